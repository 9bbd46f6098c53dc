"""A model.json and its .npz are checked before they become C (issue 17, point 1): every
value out of the kernels' range, of the wrong type or of the wrong dtype is refused with
one line naming the file, the layer and the key, exit 2, nothing written; the simulator
refuses what the C would compute with undefined behaviour."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nn2mcu.q7.matmul import check_shifts
from nn2mcu.s8.arithmetic import requantize
from tests.codegen.conftest import nn2mcu
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "networks"
FIXTURE = REPO / "tests" / "frontends" / "tflite" / "fixtures" / "residual.tflite"

Edit = Callable[[dict[str, Any]], None]
ArrayEdit = Callable[[dict[str, np.ndarray]], None]


def _case(tmp_path: Path, source: Path, edit: Edit, arrays: ArrayEdit | None) -> Path:
    document = json.loads(source.read_text())
    edit(document)
    sidecar = source.with_suffix(".npz")
    target = tmp_path / "model.npz"
    if arrays is None:
        shutil.copyfile(sidecar, target)
    else:
        with np.load(sidecar) as loaded:
            values = dict(loaded)
        arrays(values)
        np.savez(target, **values)
    document["arrays"] = {
        "path": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    return path


def _set(key: str, value: Any, *, layer: str = "conv1", section: str = "layers") -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document[section][layer][key] = value

    return edit


def _array(key: str, change: Callable[[np.ndarray], np.ndarray]) -> ArrayEdit:
    def edit(values: dict[str, np.ndarray]) -> None:
        values[key] = change(values[key])

    return edit


def _none(document: dict[str, Any]) -> None:
    return None


Q7 = GOLDEN / "fashion-q7" / "model.json"
S8 = GOLDEN / "fashion-s8" / "model.json"
CASES: list[tuple[str, Path, Edit, ArrayEdit | None, str]] = [
    ("q7 out_shift True", Q7, _set("out_shift", True), None, r"'conv1': out_shift True"),
    ("q7 out_shift 8.5", Q7, _set("out_shift", 8.5), None, r"'conv1': out_shift 8.5"),
    ("q7 out_shift 40", Q7, _set("out_shift", 40), None, r"'conv1': out_shift 40"),
    ("q7 out_shift -3", Q7, _set("out_shift", -3), None, r"'conv1': out_shift -3"),
    ("q7 bias_shift 30", Q7, _set("bias_shift", 30, layer="ip1"), None, r"'ip1': bias << bias_shift \(30\) leaves int32"),
    ("q7 half the weights", Q7, _none, _array("conv1.weight", lambda a: a.ravel()[: a.size // 2]), r"'conv1': weight has shape"),
    ("q7 float weights", Q7, _none, _array("conv1.weight", lambda a: a.astype(np.float32) + 0.5), r"array 'conv1.weight' has dtype float32"),
    ("q7 no out_shift", Q7, lambda d: d["layers"]["conv1"].pop("out_shift"), None, r"'out_shift' is missing"),
    ("s8 multiplier 5", S8, _none, _array("conv1.multiplier", lambda a: np.full_like(a, 5)), r"'conv1': multiplier 5 is neither 0 nor in \[2\^30, 2\^31\)"),
    ("s8 shift 31", S8, _none, _array("conv1.shift", lambda a: np.full_like(a, 31)), r"'conv1': shift 31..31 is outside -31..30"),
    ("s8 float multipliers", S8, _none, _array("conv1.multiplier", lambda a: a.astype(np.float64)), r"array 'conv1.multiplier' has dtype float64"),
    ("s8 zero point 1.5", S8, _set("zero_point", 1.5, layer="conv1", section="tensors"), None, r"tensor 'conv1': zero point 1.5 is not an integer"),
    ("s8 zero point 200", S8, _set("zero_point", 200, layer="conv1", section="tensors"), None, r"tensor 'conv1': zero point 200 is outside int8"),
    ("s8 scale NaN", S8, _set("scale", float("nan"), layer="conv1", section="tensors"), None, r"tensor 'conv1': scale nan"),
    ("s8 scale text", S8, _set("scale", "0.1", layer="conv1", section="tensors"), None, r"tensor 'conv1': scale '0.1' is not a number"),
    ("s8 activation 5..2", S8, _set("activation", [5, 2]), None, r"'conv1': activation range 5..2"),
    ("s8 input shift 40", S8, lambda d: d["input"].__setitem__("shift", 40), None, r"the input stage: shift 40..40 is outside -31..30"),
    ("s8 input multiplier -4", S8, lambda d: d["input"].__setitem__("multiplier", -4), None, r"the input stage: multiplier -4"),
    ("q7 70,000 channels", Q7, lambda d: d["graph"]["layers"][1]["op"].__setitem__("out_channels", 70000), None, r"'conv1' \(Convolution\): OUT_CH 70000: the legacy API takes .* as uint16"),
    ("s8 fused unknown", S8, lambda d: d.__setitem__("fused_relu", ["nope"]), None, r"fused_relu names 'nope', which is not a layer"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "edit", "arrays", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
def test_a_bad_model_file_is_refused_before_any_c(
    source: Path, edit: Edit, arrays: ArrayEdit | None, expected: str, tmp_path: Path
) -> None:
    import re

    path = _case(tmp_path, source, edit, arrays)
    result = nn2mcu("generate", path, "-o", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0] and re.search(expected, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


def test_an_imported_model_file_passes_the_same_check(tmp_path: Path) -> None:
    source = tmp_path / "source.json"
    assert nn2mcu("quantize", FIXTURE, "-o", source, cwd=tmp_path).returncode == 0
    work = tmp_path / "case"
    work.mkdir()
    path = _case(work, source, _none, _array("conv2.multiplier", lambda a: a // 4))
    result = nn2mcu("verify", path, "--random", 2, cwd=work)
    assert result.returncode == 2 and "'conv2': multiplier" in result.stderr, result.stderr


def test_the_simulator_refuses_undefined_shifts() -> None:
    with pytest.raises(ValueError, match=r"outside -31\.\.30"):
        requantize(np.array([5]), 1 << 30, 31)
    with pytest.raises(ValueError, match="out_shift 32"):
        check_shifts(None, 0, 32)
    with pytest.raises(ValueError, match="leaves int32"):
        check_shifts(np.array([127]), 25, 8)
    check_shifts(np.array([-128, 127]), 24, 9)  # -2^31 and 127 * 2^24 fit
