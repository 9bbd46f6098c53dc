"""Small TFLite models made by the TensorFlow converter (fixtures/make_fixtures.py): every
operator and rule of the front end, byte for byte against TensorFlow Lite Micro, in the
simulator (every layer against TFLM's preserved tensors) and through the generated C; and
the models nn2mcu must refuse, each with one line naming every unsupported node."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from nn2mcu import tflm
from nn2mcu.datasets.tensors import random_tensors
from nn2mcu.frontends.tflite import derive
from nn2mcu.frontends.tflite.reader import read_tflite
from nn2mcu.modelfile import read_model
from nn2mcu.ops import Conv2D, DepthwiseConv2D, Mean, Pool2D
from nn2mcu.simulate import simulate
from tests.codegen.conftest import nn2mcu
from tests.conftest import shared_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUPPORTED = ("residual", "padded", "mean_same")


def fixture(name: str) -> Path:
    return FIXTURES / f"{name}.tflite"


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_layer_equals_tflm(name: str) -> None:
    model = read_model(fixture(name))
    shape = model.graph.shapes[model.graph.input_name]
    inputs = random_tensors((shape.h, shape.w, shape.c), model.input_params.zero_point, 16)
    values = simulate(model, inputs)
    oracle = tflm.Oracle(fixture(name), preserve_all_tensors=True, edges=tflm.edges(model))
    for index, tensor in enumerate(inputs):
        output = oracle.invoke(tensor)
        for layer, tflite_tensor in model.imported.tensors.items():
            want = oracle.tensor(tflite_tensor)
            assert np.array_equal(values[layer][index].ravel(), want), f"'{layer}', input {index}"
        assert np.array_equal(values[model.graph.outputs[0]][index].ravel(), output)
    for layer in model.weighted:
        assert len(np.unique(values[layer])) >= 8, f"'{layer}' is nearly constant"


def test_the_fixtures_hold_what_they_are_for() -> None:
    residual = read_model(fixture("residual")).graph
    ops = {layer.name: layer.op for layer in residual.layers}
    assert residual.shapes["input"].as_list() == [11, 9, 3]  # non-square, odd
    # stride-2 SAME 3x3 on 11x9 (odd: 1 each side) and on 6x5 (the even height pads one row
    # at the end only), and the 1x1 stride-2 projection (none)
    strided = [op for op in ops.values() if isinstance(op, Conv2D) and op.stride == (2, 2)]
    assert sorted(op.pad for op in strided) == [(0, 0, 0, 0), (0, 1, 1, 1), (1, 1, 1, 1)]
    assert residual.shapes["conv2"].as_list() == [6, 5, 8]
    assert any(isinstance(op, DepthwiseConv2D) and op.multiplier == 2 for op in ops.values())
    assert any(isinstance(op, Mean) for op in ops.values())
    assert any(isinstance(op, Pool2D) and op.method.value == "MAX" for op in ops.values())
    fused = {
        op.name: op.options.FusedActivationFunction()
        for op in read_tflite(fixture("residual")).operators
        if op.name in ("DEPTHWISE_CONV_2D", "ADD")
    }
    assert fused == {"DEPTHWISE_CONV_2D": derive.RELU6, "ADD": derive.RELU}

    padded = read_model(fixture("padded"))
    assert padded.imported.float_input and padded.imported.float_output
    kinds = [layer.op.kind for layer in padded.graph.layers]
    assert "pad" not in kinds and "flatten" in kinds  # PAD folded, the shape arithmetic too
    conv = padded.graph.layer("conv1").op
    assert conv.pad == (1, 2, 2, 1)  # ZeroPadding2D ((1, 2), (2, 1)) folded in
    pool = padded.graph.layer("avgpool1").op
    assert any(pool.pad) and not pool.count_padding

    same = read_model(fixture("mean_same"))
    assert same.tensors["mean1"] == same.tensors["conv1"]  # MEAN on equal quantization
    unequal = read_model(fixture("residual"))
    assert unequal.tensors["mean1"] != unequal.tensors["maxpool1"]


def _verify(path: Path, tmp_path: Path, *args: object) -> dict[str, object]:
    result = nn2mcu("verify", path, *args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


@pytest.mark.host
@pytest.mark.parametrize("name", SUPPORTED)
def test_host(name: str, tmp_path: Path) -> None:
    summary = _verify(fixture(name), tmp_path, "--random", 100)
    assert summary["images"] == 100
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0


@pytest.mark.cortex_m
@pytest.mark.parametrize("name", SUPPORTED)
def test_cortex_m4(name: str, tmp_path: Path) -> None:
    summary = _verify(fixture(name), tmp_path, "--random", 50, "--target", "cortex-m4")
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0


@pytest.mark.host
def test_quantize_writes_the_model_as_it_is(tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    result = nn2mcu("quantize", fixture("residual"), "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["scheme"] == "s8" and document["input"] == {"mode": "tensor"}
    assert "calibration" not in document and "float_weights" not in document
    direct = nn2mcu("generate", fixture("residual"), "-o", tmp_path / "a", cwd=tmp_path)
    via = nn2mcu("generate", out, "-o", tmp_path / "b", cwd=tmp_path)
    assert direct.returncode == 0 and via.returncode == 0
    for name in ("weights.h", "weights.c", "parameter.h", "nn.h", "nn.c", "main.c"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    assert "raw-tensor mode" in (tmp_path / "a" / "main.c").read_text()
    header = (tmp_path / "a" / "nn.h").read_text()
    assert "nn_input_buffer" in header and "NN_INPUT_ZERO_POINT" in header
    summary = _verify(out, tmp_path, "--random", 20)
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0


def _refused(path: Path, tmp_path: Path, *args: object) -> str:
    result = nn2mcu("verify", path, "--random", 2, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert not any(tmp_path.iterdir())  # nothing written
    return lines[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("concat", r"not supported: CONCATENATION of activations \(node 2\)"),
        ("lstm", r"LOGISTIC \(nodes 4, 5, .*TANH \(nodes .*MUL \(nodes "),
        ("int16", r"is int16 \(nn2mcu takes int8 activations\)"),
        ("float", r"a float32 TFLite model"),
        ("dynamic", r"has a dynamic shape \[-1, -1, -1, 3\]"),
        ("subgraphs", r"3 subgraphs \(nn2mcu takes one\).*WHILE \(node 0\)"),
        ("uint8", r"is uint8 \(nn2mcu takes int8 activations\); QUANTIZE \(nodes 0, 7\)"),
    ],
)
def test_unsupported_models_are_refused(name: str, expected: str, tmp_path: Path) -> None:
    line = _refused(fixture(name), tmp_path)
    assert f"{name}.tflite" in line
    assert re.search(expected, line), line


def test_the_mlperf_float_model_is_refused(tmp_path: Path) -> None:
    path = shared_dir() / "data" / "mlperf-tiny" / "ad01_fp32.tflite"
    assert "a float32 TFLite model" in _refused(path, tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "not-tflite", "empty"])
def test_damaged_files_are_refused(damage: str, tmp_path: Path) -> None:
    source = fixture("residual").read_bytes()
    data = {"truncated": source[: len(source) // 3], "not-tflite": b"x" * 4000, "empty": b""}
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / f"{damage}.tflite"
    path.write_bytes(data[damage])
    line = _refused(path, work)
    assert str(path) in line and ("TFLite" in line or "TFL3" in line)


def test_inspect_shows_the_scales(tmp_path: Path) -> None:
    result = nn2mcu("inspect", fixture("residual"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = {row["layer"]: row for row in summary["quantization"]}
    model = read_model(fixture("residual"))
    assert rows["conv1"]["scale"] == model.tensors["conv1"].scale
    assert rows["conv1"]["zero_point"] == model.tensors["conv1"].zero_point
    assert summary["totals"]["macs"] > 0


@pytest.mark.host
def test_a_model_that_differs_from_tflm_fails_and_trace_names_the_layer(tmp_path: Path) -> None:
    """model.json with one shift changed: the C still equals the simulator, but not TFLM;
    verify exits 1 and --trace names the layer and element."""
    out = tmp_path / "model.json"
    assert nn2mcu("quantize", fixture("residual"), "-o", out, cwd=tmp_path).returncode == 0
    sidecar = out.with_suffix(".npz")
    with np.load(sidecar) as loaded:
        arrays = dict(loaded)
    arrays["conv3.shift"] = arrays["conv3.shift"] - 1  # half the scale; still a valid shift
    np.savez(sidecar, **arrays)
    document = json.loads(out.read_text())
    document["arrays"]["sha256"] = hashlib.sha256(sidecar.read_bytes()).hexdigest()
    out.write_text(json.dumps(document))
    result = nn2mcu("verify", out, "--random", 20, "--trace", "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] > 0
    assert summary["tflm_trace"]["layer"] == "conv3"


@pytest.mark.cortex_m
def test_run_imports_verifies_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = nn2mcu("run", fixture("padded"), "--random", 20, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "cortex-m4" and report["images"] == 20
    assert report["accuracy"] is None and report["confusion_matrix"] is None
    for summary in (report, report["host"]):
        assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0
    assert report["quantization"]["imported_from"] == "padded.tflite"
    assert "Imported from padded.tflite" in (out / "report.md").read_text()
    assert "nn_input_buffer" in (out / "project" / "nn.h").read_text()
    assert "histogram-conv1" in report["figures"] and "instructions" in report["figures"]
    again = nn2mcu("run", fixture("padded"), "--random", 20, "-o", out, cwd=tmp_path)
    assert again.returncode == 0 and "reused" in again.stdout.lower()


@pytest.mark.host
def test_run_with_labels_reports_the_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = nn2mcu(
        "run", shared_dir() / "data" / "mlperf-tiny" / "pretrainedResnet_quant.tflite",
        "--data", shared_dir() / "data" / "cifar10-jpeg", "-n", 50, "--target", "host",
        "-o", out, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["mismatches"] == 0 and report["tflm_mismatches"] == 0
    assert 0.5 < report["accuracy"] < 1.0
    assert np.asarray(report["confusion_matrix"]).sum() == 50


def test_run_refuses_a_refused_model_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = nn2mcu("run", fixture("concat"), "--random", 5, "-o", out, cwd=tmp_path)
    assert result.returncode == 2 and "CONCATENATION" in result.stderr
    assert not out.exists()


@pytest.mark.host
@pytest.mark.skipif(
    not os.environ.get("CMSIS_NN_ROOT"), reason="CMSIS_NN_ROOT (a CMSIS-NN v7+ tree) is not set"
)
@pytest.mark.parametrize("name", SUPPORTED)
def test_host_with_real_cmsis_nn(name: str, tmp_path: Path) -> None:
    summary = _verify(fixture(name), tmp_path, "--random", 50, "--kernels", "cmsis")
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0
