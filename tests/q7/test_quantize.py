"""nn2mcu quantize end to end on a tiny network trained here on scikit-learn's digits."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from nn2mcu.datasets import load_dataset
from nn2mcu.modelfile import read_quantized
from nn2mcu.quant.calibrate import calibration_split
from nn2mcu.simulate import classify, simulate
from nn2mcu.train.session import TrainOptions, train_solvers
from tests.train.conftest import Files

SCRIPT = Path(sys.executable).parent / "nn2mcu"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    files = Files(tmp_path_factory.mktemp("tiny"))
    solver = files.solver(
        "s.prototxt", max_iter=150, test_interval=0, extra="snapshot_format: HDF5"
    )
    result = train_solvers([solver], TrainOptions(progress=False), log=lambda _: None)
    return files.net, result.snapshots[0]


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_quantize_writes_a_consistent_model(trained: tuple[Path, Path], tmp_path: Path) -> None:
    net, weights = trained
    out = tmp_path / "q" / "model.json"
    result = run(
        "quantize",
        net,
        "--weights",
        weights,
        "--data",
        "digits",
        "--calibration",
        "500",
        "-o",
        out,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["schema_version"] == 2 and document["scheme"] == "q7"
    sidecar = out.with_suffix(".npz")
    assert hashlib.sha256(sidecar.read_bytes()).hexdigest() == document["arrays"]["sha256"]
    assert document["float_weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    data = load_dataset("digits")
    assert document["calibration"]["sha256"] == calibration_split(data.train, 500).sha256
    with np.load(sidecar) as arrays:
        assert sorted(arrays.files) == [
            "conv1.bias",
            "conv1.weight",
            "input.mean",
            "ip1.bias",
            "ip1.weight",
        ]
        assert arrays["conv1.weight"].dtype == np.int8
    # shifts follow from the formats, within the kernels' ranges
    fracs = document["fracs"]
    for name, entry in document["layers"].items():
        layer = next(entry_ for entry_ in document["graph"]["layers"] if entry_["name"] == name)
        accumulator = fracs[layer["inputs"][0]] + entry["w_frac"]
        assert entry["bias_shift"] == accumulator - entry["bias_frac"]
        assert entry["out_shift"] == accumulator - entry["out_frac"]
        assert 0 <= entry["bias_shift"] <= 24 and 0 <= entry["out_shift"] <= 31
    # the reported q7 accuracy is what the model read back computes
    model = read_quantized(out)
    values = simulate(model, data.test.images)
    accuracy = float(np.mean(classify(model, values) == data.test.labels))
    report = document["report"]
    assert report["q7_accuracy"] == accuracy
    assert report["float_accuracy"] > 0.8
    assert report["q7_accuracy"] > report["float_accuracy"] - 0.03
    assert f"q7 accuracy {accuracy:.4f}" in result.stdout


def test_quantize_is_deterministic(trained: tuple[Path, Path], tmp_path: Path) -> None:
    net, weights = trained
    documents = []
    for name in ("a", "b"):
        out = tmp_path / name / "model.json"
        assert (
            run(
                "quantize",
                net,
                "--weights",
                weights,
                "--data",
                "digits",
                "--calibration",
                "300",
                "-o",
                out,
                cwd=tmp_path,
            ).returncode
            == 0
        )
        document = json.loads(out.read_text())
        document["report"].pop("seconds")
        documents.append(document)
    assert documents[0] == documents[1]


def _nan_weights(weights: Path, tmp_path: Path) -> Path:
    out = tmp_path / "nan.caffemodel.h5"
    with h5py.File(weights) as source, h5py.File(out, "w") as target:
        for name in ("conv1", "ip1"):
            for index in ("0", "1"):
                value = source[f"data/{name}/{index}"][()]
                if name == "conv1" and index == "0":
                    value[0, 0, 0, 0] = np.nan
                target.create_dataset(f"data/{name}/{index}", data=value)
    return out


@pytest.mark.parametrize(
    "case", ["nan", "padded pooling", "calibration 0", "calibration too large", "weights mismatch"]
)
def test_bad_input_exits_2_and_writes_nothing(
    trained: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    net, weights = trained
    args: list[object] = ["--data", "digits"]
    expected = ""
    if case == "nan":
        args += ["--weights", _nan_weights(weights, tmp_path)]
        expected = "layer 'conv1': weight holds NaN or Inf values"
    elif case == "padded pooling":
        padded = tmp_path / "padded.prototxt"
        padded.write_text(
            net.read_text().replace("kernel_size: 3 stride: 2", "kernel_size: 4 stride: 2 pad: 1")
        )
        net = padded
        args += ["--weights", weights]
        expected = "layer 'pool1' (Pooling): pad 1,1: the legacy q7 pooling kernels"
    elif case == "calibration 0":
        args += ["--weights", weights, "--calibration", "0"]
        expected = "--calibration must be at least 1, got 0"
    elif case == "calibration too large":
        args += ["--weights", weights, "--calibration", "5000"]
        expected = "--calibration 5000 exceeds the 1437 training images"
    else:
        bad = tmp_path / "bad.caffemodel.h5"
        with h5py.File(bad, "w") as handle:
            handle.create_dataset("data/conv1/0", data=np.zeros((4, 1, 3, 3), np.float32))
            handle.create_dataset("data/conv1/1", data=np.zeros(4, np.float32))
        args += ["--weights", bad]
        expected = "layer 'conv1' (Convolution) blob 0 has shape [4, 1, 3, 3], the net expects [8, 1, 3, 3]"
    out = tmp_path / "out" / "model.json"
    result = run("quantize", net, *args, "-o", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nn2mcu: error: ") and expected in lines[0], (
        lines
    )
    assert not (tmp_path / "out").exists()


def test_arm_method(trained: tuple[Path, Path], tmp_path: Path) -> None:
    net, weights = trained
    out = tmp_path / "arm.json"
    result = run(
        "quantize",
        net,
        "--weights",
        weights,
        "--data",
        "digits",
        "--calibration",
        "500",
        "--method",
        "arm",
        "-o",
        out,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "conv1: weights Q" in result.stdout and "ip1: bias Q" in result.stdout
    document = json.loads(out.read_text())
    model = read_quantized(out)
    data = load_dataset("digits")
    accuracy = float(
        np.mean(classify(model, simulate(model, data.test.images)) == data.test.labels)
    )
    assert document["report"]["q7_accuracy"] == accuracy > 0.7
    wrong = run(
        "quantize",
        net,
        "--weights",
        weights,
        "--data",
        "digits",
        "--arm-test-set",
        "-o",
        tmp_path / "x.json",
        cwd=tmp_path,
    )
    assert wrong.returncode == 2 and "--arm-test-set goes with --method arm only" in wrong.stderr


def test_values_no_format_can_hold(trained: tuple[Path, Path], tmp_path: Path) -> None:
    net, weights = trained
    huge = tmp_path / "huge.caffemodel.h5"
    with h5py.File(weights) as source, h5py.File(huge, "w") as target:
        for name in ("conv1", "ip1"):
            for index in ("0", "1"):
                value = source[f"data/{name}/{index}"][()]
                if name == "ip1":  # tiny weights, a large output: 40+ bits apart
                    value = value * (1e-12 if index == "0" else 1e3)
                target.create_dataset(f"data/{name}/{index}", data=value)
    result = run(
        "quantize",
        net,
        "--weights",
        huge,
        "--data",
        "digits",
        "-o",
        tmp_path / "m.json",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert (
        "layer 'ip1': its output" in line
        and "no 8-bit format the q7 kernels can run holds these values" in line
    ), line
    assert not (tmp_path / "m.json").exists()


def test_input_scale_folds_into_the_format_or_the_first_layer() -> None:
    from nn2mcu.ir import Graph, Layer, Shape
    from nn2mcu.ops import Conv2D, Input, Preprocessing
    from nn2mcu.quant.calibrate import float_view

    def graph(scale: float) -> Graph:
        prep = Preprocessing(mean_values=(128.0,), scale=scale)
        return Graph("g", (
            Layer("in", Input(shape=Shape(4, 4, 1), preprocessing=prep)),
            Layer("c", Conv2D(out_channels=1, kernel=(1, 1)), ("in",), {"weight": np.ones((1, 1, 1, 1)), "bias": np.zeros(1)}),
        ))  # fmt: skip

    power = float_view(graph(0.25))
    assert power.scale_log2 == -2
    assert power.graph.layer("c").weights["weight"].ravel().tolist() == [1.0]
    other = float_view(graph(0.3))
    assert other.scale_log2 == 0
    assert other.graph.layer("c").weights["weight"].ravel().tolist() == [np.float32(0.3)]
    pixels = np.full((1, 4, 4, 1), 138, np.uint8)
    assert other.inputs(pixels).ravel()[0] == 10.0 and power.inputs(pixels).ravel()[0] == 2.5
