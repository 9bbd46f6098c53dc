"""The ONNX front end on models exported from PyTorch inside the test (torch.onnx.export's
default exporter, the same with optimize=False, which keeps BatchNormalization, and the
TorchScript exporter): import, the float check against onnxruntime, then quantization
(q7 where its kernels can, s8) and the generated C verified on the host under ASan/UBSan
with 0 mismatching bytes. Then the refusals, each a one-line error."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from nn2mcu.codegen.host import build_host, generate_atomically, verify_host
from nn2mcu.codegen.lower import lower
from nn2mcu.datasets import Dataset, Split
from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx import load_onnx, read_onnx
from nn2mcu.frontends.onnx.check import check_against_onnxruntime
from nn2mcu.ir import Graph
from nn2mcu.ops import BatchNorm, DepthwiseConv2D, FullyConnected, Pool2D, ReLU6, Scale
from nn2mcu.quant.q7.quantize import QuantizeOptions, quantize_q7
from nn2mcu.quant.s8.quantize import quantize_s8
from tests.codegen.test_random_nets import SANITIZE

SCRIPT = Path(sys.executable).with_name("nn2mcu")
MEAN, SCALE = 128.0, 1 / 64


class Plain(nn.Module):
    """conv-relu-maxpool, depthwise-relu, conv-bn-relu-avgpool, flatten, linear, linear,
    softmax; on 14x14 images the second pool rounds 7 down to 3 (floor mode, where
    Caffe's ceil gives 4)"""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(12)
        self.fc1 = nn.Linear(12 * 3 * 3, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(self.depthwise(x))
        x = nn.functional.avg_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.relu(self.fc1(x.reshape(x.size(0), -1)))  # with a dynamic batch: Shape...
        return torch.softmax(self.fc2(x), dim=1)


class Mobile(nn.Module):
    """conv-bn-relu6, depthwise-relu6, 1x1-relu, global average pool, MatMul + Add"""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.weight = nn.Parameter(torch.randn(16, 5) * 0.3)
        self.bias = nn.Parameter(torch.randn(5) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu6(self.bn(self.conv(x)))
        x = nn.functional.relu6(self.dw(x))
        x = torch.relu(self.pw(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.matmul(x, self.weight) + self.bias


def _trained_like(model: nn.Module, seed: int) -> nn.Module:
    """Random weights with BatchNorm statistics that are not the identity."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def export(model: nn.Module, path: Path, exporter: str, size: int = 12) -> Path:
    x = torch.randn(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "default":
            torch.onnx.export(model, (x,), str(path))
        elif exporter == "no-optimize":
            torch.onnx.export(model, (x,), str(path), optimize=False)
        elif exporter == "torchscript-opset11":  # and a dynamic batch size
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=11,
                              input_names=["x"], dynamic_axes={"x": {0: "batch"}})  # fmt: skip
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False)
    return path


def dataset(model: nn.Module, seed: int, size: int = 12) -> Dataset:
    """Random size x size x 3 images labelled by the float model itself."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (800, size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        x = torch.from_numpy(((images.astype(np.float32) - MEAN) * SCALE).transpose(0, 3, 1, 2))
        labels = model(x).argmax(dim=1).numpy().astype(np.int64)
    return Dataset("random", Split(images[:600], labels[:600]), Split(images[600:], labels[600:]),
                   tuple(str(i) for i in range(5)))  # fmt: skip


def _verified(model: object, data: Dataset, tmp_path: Path) -> int:
    program = lower(model)  # type: ignore[arg-type]
    generate_atomically(program, tmp_path / "project")
    binary = build_host(tmp_path / "project", SANITIZE)
    result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    assert result.images == 200
    return result.mismatches


EXPORTERS = ["default", "no-optimize", "torchscript", "torchscript-opset11"]


@pytest.mark.host
@pytest.mark.parametrize("exporter", EXPORTERS)
def test_plain_net_imports_and_verifies_in_both_schemes(exporter: str, tmp_path: Path) -> None:
    torch_model = _trained_like(Plain(), 0)
    path = export(torch_model, tmp_path / "plain.onnx", exporter, size=14)
    if exporter == "no-optimize":
        assert "BatchNormalization" in {n.op_type for n in onnx.load(str(path)).graph.node}
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    kinds = [type(layer.op) for layer in graph.layers]
    assert BatchNorm not in kinds and Scale not in kinds  # folded
    assert kinds.count(FullyConnected) == 2 and kinds.count(Pool2D) == 2
    assert kinds.count(DepthwiseConv2D) == 1
    data = dataset(torch_model, 0, size=14)
    q7 = quantize_q7(graph, data, QuantizeOptions(calibration=600))
    assert q7.report["q7_accuracy"] > 0.6
    assert _verified(q7.model, data, tmp_path / "q7") == 0
    s8 = quantize_s8(graph, data, calibration=600)
    assert s8.report["s8_accuracy"] > 0.8
    assert _verified(s8.model, data, tmp_path / "s8") == 0


@pytest.mark.host
@pytest.mark.parametrize("exporter", EXPORTERS)
def test_mobile_net_imports_and_verifies_in_s8(exporter: str, tmp_path: Path) -> None:
    torch_model = _trained_like(Mobile(), 1)
    path = export(torch_model, tmp_path / "mobile.onnx", exporter)
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    ops = [layer.op for layer in graph.layers]
    assert any(isinstance(op, DepthwiseConv2D) for op in ops)
    assert sum(isinstance(op, ReLU6) for op in ops) == 2
    assert isinstance(ops[-1], FullyConnected) and ops[-1].bias  # MatMul + Add
    data = dataset(torch_model, 1)
    s8 = quantize_s8(graph, data, calibration=600)
    assert s8.report["s8_accuracy"] > 0.7
    assert len(s8.model.fused) == 3  # both ReLU6 and the ReLU in their layers' ranges
    assert _verified(s8.model, data, tmp_path / "s8") == 0
    with pytest.raises(InputError, match=r"ReLU6.*arm_relu_q7 clamps at 0 only"):
        quantize_q7(graph, data, QuantizeOptions(calibration=600))


def test_the_float_check_names_the_first_differing_tensor(tmp_path: Path) -> None:
    path = export(_trained_like(Plain(), 0), tmp_path / "plain.onnx", "torchscript")
    net = read_onnx(path)
    assert check_against_onnxruntime(net, str(path)) < 1e-5
    layers = list(net.graph.layers)
    index = next(i for i, layer in enumerate(layers) if isinstance(layer.op, FullyConnected))
    layer = layers[index]
    weights = {**layer.weights, "bias": layer.weights["bias"] + 0.01}
    layers[index] = type(layer)(layer.name, layer.op, layer.inputs, weights)
    broken = type(net)(Graph(net.graph.name, tuple(layers), net.graph.outputs), net.tensors,
                       net.model)  # fmt: skip
    with pytest.raises(InputError, match=rf"fails at tensor '[^']+' \(layer '{layer.name}'\)"):
        check_against_onnxruntime(broken, str(path))


def test_preprocessing_from_metadata_and_from_the_command_line(tmp_path: Path) -> None:
    path = export(_trained_like(Plain(), 0), tmp_path / "plain.onnx", "torchscript")
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"nn2mcu.mean": "120,110,100", "nn2mcu.scale": "0.02"})
    onnx.save(model, str(path))
    prep = load_onnx(path).layers[0].op.preprocessing  # type: ignore[attr-defined]
    assert prep.mean_values == (120.0, 110.0, 100.0) and prep.scale == 0.02
    prep = load_onnx(path, mean=(128.0,), scale=0.5).layers[0].op.preprocessing  # type: ignore[attr-defined]
    assert prep.mean_values == (128.0,) and prep.scale == 0.5


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_unsupported_nodes_are_all_named_at_once(tmp_path: Path) -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(nn.functional.leaky_relu(self.conv(x)))

    path = export(Odd().eval(), tmp_path / "odd.onnx", "torchscript")
    result = _run("inspect", path, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "LeakyRelu" in lines[0] and "Sigmoid" in lines[0], lines


def test_refusals_name_the_node_and_the_reason(tmp_path: Path) -> None:
    class Padded(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.avg_pool2d(x, 3, padding=1, count_include_pad=False)

    path = export(Padded().eval(), tmp_path / "padded.onnx", "torchscript")
    result = _run("inspect", path, cwd=tmp_path)
    assert result.returncode == 2
    assert "AveragePool" in result.stderr and "count_include_pad 0" in result.stderr
    plain = export(_trained_like(Plain(), 0), tmp_path / "plain.onnx", "torchscript")
    model = onnx.load(str(plain))
    model.opset_import[0].version = 9
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    result = _run("inspect", old, cwd=tmp_path)
    assert result.returncode == 2 and "opset" in result.stderr
    result = _run("quantize", plain, "--weights", plain, "--data", "digits", "-o", "m.json",
                  cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "carries its own weights" in result.stderr
    result = _run("quantize", plain, "--data", "digits", "-o", "m.json", cwd=tmp_path)
    assert (
        result.returncode == 2 and "takes 3x12x12 (CxHxW) images, digits has 1x8x8" in result.stderr
    )
    assert not (tmp_path / "m.json").exists()


@pytest.mark.host
def test_the_pytorch_example_trains_exports_and_deploys(tmp_path: Path) -> None:
    """examples/pytorch_fashion_mnist/train.py on 1,000 images for one epoch: its model
    carries its preprocessing and verifies in s8 on the host."""
    script = Path(__file__).resolve().parents[2] / "examples" / "pytorch_fashion_mnist" / "train.py"
    model = tmp_path / "model.onnx"
    result = subprocess.run([sys.executable, str(script), "--epochs", "1", "--limit", "1000",
                             "-o", str(model)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    prep = load_onnx(model).layers[0].op.preprocessing  # type: ignore[attr-defined]
    assert prep.mean_values == (0.0,) and prep.scale == pytest.approx(1 / 255)
    out = tmp_path / "s8.json"
    result = _run("quantize", model, "--data", "fashion-mnist", "--scheme", "s8",
                  "--calibration", 300, "-o", out, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = _run("verify", out, "--data", "fashion-mnist", "-n", 300, "--sanitize", cwd=tmp_path)
    assert result.returncode == 0 and "300 images: 0 mismatching bytes" in result.stdout
