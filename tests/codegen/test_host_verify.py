"""Generated C on the host: deterministic generation, 0 mismatching bytes against the
simulator under ASan/UBSan, and a negative control (one changed weight byte)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nn2mcu.codegen.host import build_host, first_divergence, generate_atomically, verify_host
from nn2mcu.codegen.plan import lower
from nn2mcu.datasets import load_dataset
from nn2mcu.q7.modelfile import read_model
from nn2mcu.train.session import TrainOptions, train_solvers
from tests.train.conftest import Files

SCRIPT = Path(sys.executable).parent / "nn2mcu"
SANITIZE = "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def model_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("codegen")
    files = Files(root)
    solver = files.solver(
        "s.prototxt", max_iter=150, test_interval=0, extra="snapshot_format: HDF5"
    )
    weights = train_solvers([solver], TrainOptions(progress=False), log=lambda _: None).snapshots[0]
    out = root / "model.json"
    result = run(
        "quantize", files.net, "--weights", weights, "--data", "digits", "-o", out, cwd=root
    )
    assert result.returncode == 0, result.stderr
    return out


def test_generation_is_deterministic(model_json: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run("generate", model_json, "-o", tmp_path / name, cwd=tmp_path).returncode == 0
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert (
        files_a == files_b
        and Path("weights.h") in files_a
        and Path("kernels/arm_nnfunctions.h") in files_a
    )
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_verify_on_the_host_with_sanitizers(model_json: Path, tmp_path: Path) -> None:
    result = run(
        "verify",
        model_json,
        "--data",
        "digits",
        "--target",
        "host",
        "--sanitize",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == 360 and summary["mismatches"] == 0
    report = json.loads(model_json.read_text())["report"]
    assert summary["accuracy"] == report["q7_accuracy"]
    assert {"text", "data", "bss", "float_accuracy", "per_layer"} <= summary.keys()
    assert [entry["kernel"] for entry in summary["per_layer"]] == [
        "arm_convolve_HWC_q7_basic", "arm_relu_q7", "arm_maxpool_q7_HWC", "arm_fully_connected_q7_opt",
    ]  # fmt: skip


def test_one_changed_weight_byte_is_caught(model_json: Path, tmp_path: Path) -> None:
    model = read_model(model_json)
    program = lower(model)
    project = tmp_path / "project"
    generate_atomically(program, project)
    weights = project / "weights.h"
    text = weights.read_text()
    match = re.search(r"ip1_wt\[\d+\] NN_ALIGN4 = \{\n    (-?\d+)", text)
    assert match is not None
    value = int(match.group(1))
    changed = (
        text[: match.start(1)] + str(value + 1 if value < 127 else value - 1) + text[match.end(1) :]
    )
    weights.write_text(changed)
    binary = build_host(project, SANITIZE)
    data = load_dataset("digits")
    result = verify_host(program, binary, data.test.images[:200], data.test.labels[:200], tmp_path)
    assert result.mismatches > 0 and result.first_mismatch is not None
    image = result.first_mismatch
    trace = first_divergence(
        program, project, data.test.images[image : image + 1], tmp_path, SANITIZE
    )
    assert trace is not None
    assert (trace["layer"], trace["kernel"]) == ("ip1", "arm_fully_connected_q7_opt")
    # and the untouched project matches
    generate_atomically(program, project)
    clean = verify_host(
        program,
        build_host(project, SANITIZE),
        data.test.images[:200],
        data.test.labels[:200],
        tmp_path,
    )
    assert clean.mismatches == 0


CMSIS_5_ROOT = os.environ.get("CMSIS_5_ROOT")


@pytest.mark.skipif(not CMSIS_5_ROOT, reason="CMSIS_5_ROOT is not set (a CMSIS 5.x tree, <= 5.9.0)")
def test_verify_against_real_cmsis_nn(model_json: Path, tmp_path: Path) -> None:
    """CMSIS-NN built for the host (plain-C path) against the simulator's 2-D average pool."""
    result = run(
        "verify", model_json, "--data", "digits", "--kernels", "cmsis", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mismatches"] == 0


@pytest.mark.parametrize("root", ["", "/nonexistent/cmsis"])
def test_cmsis_root_errors_name_the_variable(model_json: Path, tmp_path: Path, root: str) -> None:
    env = {**os.environ, "CMSIS_5_ROOT": root}
    result = subprocess.run(
        [str(SCRIPT), "generate", str(model_json), "-o", str(tmp_path / "p"), "--kernels", "cmsis"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "CMSIS_5_ROOT" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_generate_never_replaces_a_foreign_directory(model_json: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = run("generate", model_json, "-o", foreign, cwd=tmp_path)
    assert result.returncode == 2 and "is not an nn2mcu project" in result.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    project = tmp_path / "project"
    assert run("generate", model_json, "-o", project, cwd=tmp_path).returncode == 0
    assert (
        run("generate", model_json, "-o", project, cwd=tmp_path).returncode == 0
    )  # its own: replaced
