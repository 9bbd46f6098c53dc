"""A Caffe net with an Eltwise SUM shortcut: trained with nn2mcu train on digits, quantized
for s8 and verified on the host and on the emulated Cortex-M4 with 0 mismatching bytes;
Eltwise operations other than a plain sum are refused naming the layer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import load_net
from nn2mcu.ops import Add
from tests.codegen.test_s8_codegen import needs_cmsis_nn
from tests.train.conftest import Files

SCRIPT = Path(sys.executable).with_name("nn2mcu")

NET = """
name: "residual_digits"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { mean_value: 128 scale: 0.0078125 }
        data_param { source: "digits" batch_size: 32 } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { mean_value: 128 scale: 0.0078125 }
        data_param { source: "digits" batch_size: 60 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "conv3" type: "Convolution" bottom: "conv2" top: "conv3"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "sum" type: "Eltwise" bottom: "conv3" bottom: "conv1" top: "sum"
        eltwise_param { operation: SUM } }
layer { name: "relu3" type: "ReLU" bottom: "sum" top: "sum" }
layer { name: "pool" type: "Pooling" bottom: "sum" top: "pool"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
        inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy"
        include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=1200)  # fmt: skip


@pytest.fixture(scope="module")
def residual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The residual net trained 400 iterations on digits and quantized for s8."""
    root = tmp_path_factory.mktemp("residual")
    net = root / "residual.prototxt"
    net.write_text(NET)
    solver = Files(root).solver("solver.prototxt", net=net, max_iter=400, base_lr=0.02,
                                lr_policy="fixed", test_interval=0, prefix="snap/res",
                                extra="snapshot_format: HDF5")  # fmt: skip
    trained = _run("train", solver, "--no-progress", cwd=root)
    assert trained.returncode == 0, trained.stderr
    graph = load_net(net, phase="TEST")
    sums = [layer for layer in graph.layers if isinstance(layer.op, Add)]
    assert len(sums) == 1 and sums[0].inputs == ("conv3", "relu1")
    model = root / "model.json"
    quantized = _run("quantize", net, "--weights", root / "snap" / "res_iter_400.caffemodel.h5",
                     "--data", "digits", "--scheme", "s8", "-o", model, cwd=root)  # fmt: skip
    assert quantized.returncode == 0, quantized.stderr
    return model


def _verify(model: Path, target: str, *kernels: str) -> None:
    result = _run("verify", model, "--data", "digits", "--target", target, *kernels, "--json",
                  cwd=model.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mismatches"] == 0 and summary["images"] == 360
    assert "arm_elementwise_add_s8" in [entry["kernel"] for entry in summary["per_layer"]]


@pytest.mark.cortex_m
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_a_trained_caffe_residual_net_verifies_in_s8(residual_model: Path, target: str) -> None:
    report = json.loads(residual_model.read_text())["report"]
    assert report["float_accuracy"] > 0.85
    assert report["s8_accuracy"] >= report["float_accuracy"] - 0.01
    _verify(residual_model, target)


@pytest.mark.cortex_m
@needs_cmsis_nn
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_the_residual_net_against_real_cmsis_nn(residual_model: Path, target: str) -> None:
    _verify(residual_model, target, "--kernels", "cmsis")


def test_eltwise_other_than_a_plain_sum_is_refused(tmp_path: Path) -> None:
    for param, message in (("operation: PROD", "operation PROD is not supported"),
                           ("operation: SUM coeff: 1 coeff: -1", "coeff [1.0, -1.0]")):  # fmt: skip
        net = tmp_path / "net.prototxt"
        net.write_text(
            NET.replace("eltwise_param { operation: SUM }", f"eltwise_param {{ {param} }}")
        )
        with pytest.raises(InputError, match=rf"layer 'sum' \(Eltwise\): {re.escape(message)}"):
            load_net(net, phase="TEST")
