"""Models quantized elsewhere (Scheme.from_quantized, the entry of the TFLite importer): no
float weights, no calibration record; their model files omit both, and verify omits
float_accuracy. A read model is checked by its scheme before any work."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nn2mcu.codegen.emit import project_files
from nn2mcu.codegen.lower import lower
from nn2mcu.errors import InputError
from nn2mcu.modelfile import read_quantized, write_quantized
from nn2mcu.schemes import SCHEMES

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "networks"
SCRIPT = Path(sys.executable).with_name("nn2mcu")


def _rebuilt_s8() -> tuple[object, object]:
    model = read_quantized(GOLDEN / "fashion-s8" / "model.json")
    rebuilt = SCHEMES["s8"].from_quantized(  # type: ignore[attr-defined]
        model.graph, tensors=model.tensors, layers=model.weighted, mean=model.mean,
        input_multiplier=model.input_multiplier, input_shift=model.input_shift,
        scale_log2=model.scale_log2, fused=model.fused, pool_activation=model.pool_activation,
    )  # fmt: skip
    return model, rebuilt


def test_from_quantized_gives_the_same_program() -> None:
    model, rebuilt = _rebuilt_s8()
    assert project_files(lower(rebuilt)) == project_files(lower(model))  # type: ignore[arg-type]


@pytest.mark.host
def test_a_model_without_float_origin_writes_and_verifies(tmp_path: Path) -> None:
    _, rebuilt = _rebuilt_s8()
    path = tmp_path / "model.json"
    write_quantized(rebuilt, path, calibration=None, weights_file=None, report={})
    document = json.loads(path.read_text())
    assert "calibration" not in document and "float_weights" not in document
    result = subprocess.run(
        [str(SCRIPT), "verify", str(path), "--data", "fashion-mnist", "-n", "50", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mismatches"] == 0 and summary["images"] == 50
    assert "float_accuracy" not in summary


def test_from_quantized_refuses_parameters_that_do_not_fit() -> None:
    model, _ = _rebuilt_s8()
    name = next(iter(model.weighted))  # type: ignore[attr-defined]
    layers = dict(model.weighted)  # type: ignore[attr-defined]
    layers[name] = dataclasses.replace(layers[name], shift=layers[name].shift[:-1])
    with pytest.raises(InputError, match=rf"layer '{name}': shift has shape"):
        SCHEMES["s8"].from_quantized(  # type: ignore[attr-defined]
            model.graph, tensors=model.tensors, layers=layers, mean=model.mean,  # type: ignore[attr-defined]
            input_multiplier=1 << 30, input_shift=0,
        )  # fmt: skip


def test_a_damaged_model_file_is_refused_before_any_work(tmp_path: Path) -> None:
    source = GOLDEN / "fashion-q7"
    document = json.loads((source / "model.json").read_text())
    name = next(iter(document["layers"]))
    document["layers"][name]["out_shift"] = 40
    (tmp_path / "model.npz").write_bytes((source / "model.npz").read_bytes())
    (tmp_path / "model.json").write_text(json.dumps(document))
    result = subprocess.run(
        [str(SCRIPT), "generate", str(tmp_path / "model.json"), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"layer '{name}': out_shift 40 is outside 0..31" in lines[0]
    assert not (tmp_path / "out").exists()
