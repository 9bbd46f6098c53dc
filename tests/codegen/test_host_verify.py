"""Generated C on the host: deterministic generation, 0 mismatching bytes against the
simulator under ASan/UBSan, and a negative control (one changed weight byte)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.datasets import load_dataset
from nn2mcu.modelfile import read_quantized
from nn2mcu.simulate import simulate
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


@pytest.mark.host
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


@pytest.mark.host
def test_one_changed_weight_byte_is_caught(model_json: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert run("generate", model_json, "-o", project, cwd=tmp_path).returncode == 0
    verify = ("verify", model_json, "--data", "digits", "-n", 200, "--sanitize", "--trace")
    clean = run(*verify, "--project", project, "--json", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["mismatches"] == 0

    weights = project / "weights.c"
    text = weights.read_text()
    match = re.search(r"NN_ALIGN4 const \w+ ip1_wt\[\d+\] = \{\n    (-?\d+)", text)
    assert match is not None
    value = int(match.group(1))
    changed = (
        text[: match.start(1)] + str(value + 1 if value < 127 else value - 1) + text[match.end(1) :]
    )
    weights.write_text(changed)
    result = run(*verify, "--project", project, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert re.search(r"first divergence: image \d+, layer 'ip1' \(arm_fully_connected_q7_opt\)",
                     result.stdout), result.stdout  # fmt: skip
    summary = json.loads(run(*verify, "--project", project, "--json", cwd=tmp_path).stdout)
    assert summary["mismatches"] > 0 and summary["trace"]["layer"] == "ip1"
    assert weights.read_text() == changed and not (project / "nn_host").exists()


@pytest.mark.host
def test_verify_project_must_be_a_project(model_json: Path, tmp_path: Path) -> None:
    result = run("verify", model_json, "--data", "digits", "--project", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"nn2mcu: error: --project {tmp_path}: no Makefile there (not a generated project)"
    )


@pytest.mark.host
def test_embedded_images_print_the_simulator_scores(model_json: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    result = run(
        "generate", model_json, "-o", project, "--embed-images", 25, "--data", "digits",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    build = subprocess.run(
        ["make", "-C", str(project), "nn_embedded", f"CFLAGS={SANITIZE}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    output = subprocess.run(
        [str(project / "nn_embedded")], capture_output=True, text=True, timeout=600
    )
    assert output.returncode == 0, output.stderr
    lines = output.stdout.strip().splitlines()
    model = read_quantized(model_json)
    data = load_dataset("digits")
    logits = simulate(model, data.test.images[:25])[model.logits].reshape(25, -1)
    for n, line in enumerate(lines[:25]):
        scores = " ".join(map(str, logits[n]))
        label = data.test.labels[n]
        assert line == f"image {n}: class {logits[n].argmax()}, scores {scores}, label {label}"
    correct = int(np.sum(logits.argmax(axis=1) == data.test.labels[:25]))
    assert lines[25:] == [f"{correct} of 25 images classified correctly"]


def test_embed_images_needs_data(model_json: Path, tmp_path: Path) -> None:
    result = run("generate", model_json, "-o", tmp_path / "p", "--embed-images", 3, cwd=tmp_path)
    assert result.returncode == 2 and not (tmp_path / "p").exists()
    assert "--embed-images needs --data" in result.stderr


CMSIS_5_ROOT = os.environ.get("CMSIS_5_ROOT")


@pytest.mark.host
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


def test_class_names_come_from_what_quantize_recorded(model_json: Path, tmp_path: Path) -> None:
    document = json.loads(model_json.read_text())
    assert document["class_names"] == [str(digit) for digit in range(10)]
    assert run("generate", model_json, "-o", tmp_path / "p", cwd=tmp_path).returncode == 0
    source = (tmp_path / "p" / "nn.c").read_text()
    table = re.search(r"nn_class_names\[NN_OUTPUT_SIZE\] = \{\n(.*?)\};", source, re.S)
    assert table is not None
    assert re.findall(r'"([^"]*)"', table.group(1)) == document["class_names"]
    assert "NN_HAS_CLASS_NAMES" in (tmp_path / "p" / "nn.h").read_text()


def test_class_names_that_do_not_fit_the_outputs_are_left_out(tmp_path: Path) -> None:
    tflite = Path(__file__).resolve().parents[1] / "frontends" / "tflite" / "fixtures"
    result = run("generate", tflite / "residual.tflite", "--data", "digits", "-o", tmp_path / "p",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "nn2mcu: warning: no nn_class_names: the data set names 10 classes, the network has 5 "
        "outputs\n"
    )
    assert "nn_class_names" not in (tmp_path / "p" / "nn.c").read_text()
