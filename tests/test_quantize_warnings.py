"""Warnings for values that make no sense at 8 bits (issue 17, point 9): parameters and
outputs beyond any 8-bit format's reach, and outputs that saturate often, noting when the
clipping at -128 happens before a ReLU (harmless). On stderr and in the model's report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.frontends.caffe import InputShapeSources
from nn2mcu.frontends.caffe.weights import write_caffemodel
from nn2mcu.frontends.load import load_network
from nn2mcu.ir import Graph, Layer
from nn2mcu.quant.sanity import negatives_zeroed_by, saturation_warning
from nn2mcu.schemes.q7 import Q7
from tests.train.conftest import NET

SCRIPT = Path(sys.executable).with_name("nn2mcu")


def _weights(tmp_path: Path, factor: float) -> tuple[Path, Path]:
    net = tmp_path / "net.prototxt"
    net.write_text(NET)
    graph = load_network(net, sources=InputShapeSources(data_shape=(1, 8, 8), data_spec="digits"))
    rng = np.random.default_rng(0)
    layers = []
    for layer in graph.layers:
        shapes = layer.op.weight_shapes(graph.input_shapes(layer))
        scale = factor if layer.name == "conv1" else 1.0
        arrays = {k: rng.normal(0, 0.3, s).astype(np.float32) * scale for k, s in shapes.items()}
        layers.append(Layer(layer.name, layer.op, layer.inputs, arrays))
    weights = tmp_path / "w.caffemodel"
    write_caffemodel(Graph(graph.name, tuple(layers), graph.outputs), weights)
    return net, weights


@pytest.mark.parametrize("scheme", ["q7", "s8"])
def test_absurd_weights_are_warned_about(tmp_path: Path, scheme: str) -> None:
    net, weights = _weights(tmp_path, 1e30)
    result = subprocess.run(
        [str(SCRIPT), "quantize", str(net), "--weights", str(weights), "--data", "digits",
         "--scheme", scheme, "--calibration", "100", "-o", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("nn2mcu: warning:")]
    assert any("layer 'conv1': weight values up to" in w and "beyond any 8-bit format's reach" in w
               for w in warnings), result.stderr  # fmt: skip
    assert any("layer 'ip1': outputs up to" in w for w in warnings), result.stderr
    report = json.loads((tmp_path / "m.json").read_text())["report"]
    assert [f"nn2mcu: warning: {w}" for w in report["warnings"]] == warnings


def test_sensible_weights_give_no_warning(tmp_path: Path) -> None:
    net, weights = _weights(tmp_path, 1.0)
    result = subprocess.run(
        [str(SCRIPT), "quantize", str(net), "--weights", str(weights), "--data", "digits",
         "--calibration", "100", "-o", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["report"]["warnings"] == []


def test_saturation_warnings_say_when_the_clipping_is_harmless() -> None:
    assert saturation_warning("conv1", 0.01, 0.01, "ReLU") is None
    harmless = saturation_warning("conv3", 0.105, 0.004, "ReLU")
    assert harmless is not None and "10.9 % of its outputs saturate" in harmless
    assert "before a ReLU that makes them 0 anyway: harmless" in harmless
    for low, high, relu in ((0.105, 0.004, None), (0.02, 0.05, "ReLU")):
        warning = saturation_warning("conv3", low, high, relu)
        assert warning is not None and "harmless" not in warning


def test_negatives_zeroed_by_and_the_report_cell(tmp_path: Path) -> None:
    net, _ = _weights(tmp_path, 1.0)
    graph = load_network(net, sources=InputShapeSources(data_shape=(1, 8, 8), data_spec="digits"))
    assert negatives_zeroed_by(graph, "conv1") == "ReLU"
    assert negatives_zeroed_by(graph, "ip1") is None
    row = {"name": "conv1", "w_frac": 7, "bias_frac": 7, "in_frac": 7, "out_frac": 5,
           "bias_shift": 7, "out_shift": 9, "saturated": 0.109, "saturated_low": 0.105,
           "saturated_high": 0.004, "negatives_zeroed_by": "ReLU", "sqnr_db": 8.9}  # fmt: skip
    cell = Q7.layer_table([row])[1][7]
    assert cell == "10.90 % (10.50 % at -128 before a ReLU: harmless)"
