"""Residual networks from PyTorch through ONNX: element-wise Add of two computed tensors
(an identity and a projection shortcut, BatchNorm folded), ZeroPad2d folded into the next
stride-2 convolution, a depthwise convolution with channel multiplier 2; quantized for s8
and verified with 0 mismatching bytes on the host and the emulated Cortex-M4; q7 refuses
the Add with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nn2mcu.codegen.cortex_m import TARGETS, build_target, run_images
from nn2mcu.codegen.host import build_host, compare_outputs, generate_atomically, verify_host
from nn2mcu.codegen.lower import lower
from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx import load_onnx
from nn2mcu.ops import Add, Conv2D, DepthwiseConv2D
from nn2mcu.quant.q7.quantize import QuantizeOptions, quantize_q7
from nn2mcu.quant.s8.quantize import quantize_s8
from tests.codegen.test_random_nets import SANITIZE
from tests.codegen.test_s8_codegen import CMSIS_NN_ROOT, needs_cmsis_nn
from tests.frontends.test_onnx import MEAN, SCALE, _trained_like, _verified, dataset, export


class Residual(nn.Module):
    """stem conv-bn-relu; an identity shortcut around two convolutions; a projection
    shortcut (1x1, stride 2) around a stride-2 block; a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(12, 12, 3, padding=1)
        self.project = nn.Conv2d(8, 12, 1, stride=2)
        self.fc = nn.Linear(12 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        y = torch.relu(self.conv_b(torch.relu(self.conv_a(x))) + x)
        z = torch.relu(self.down2(torch.relu(self.down(y))) + self.project(y))
        return self.fc(torch.flatten(z, 1))


@pytest.mark.host
def test_a_residual_net_verifies_in_s8(tmp_path: Path) -> None:
    torch.manual_seed(5)
    torch_model = _trained_like(Residual(), 5)
    path = export(torch_model, tmp_path / "residual.onnx", "torchscript")
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    adds = [layer for layer in graph.layers if isinstance(layer.op, Add)]
    assert len(adds) == 2 and all(len(layer.inputs) == 2 for layer in adds)
    data = dataset(torch_model, 5)
    s8 = quantize_s8(graph, data, calibration=600)
    # random weights, images labelled by the float net itself: agreement, not accuracy
    assert s8.report["s8_accuracy"] >= 0.95
    assert {name for name in s8.model.pool_activation} >= {layer.name for layer in adds}
    program = lower(s8.model)
    assert [call.kernel.name for call in program.calls].count("arm_elementwise_add_s8") == 2
    assert _verified(s8.model, data, tmp_path / "s8") == 0
    with pytest.raises(InputError, match=r"\(Add\): the legacy CMSIS-NN q7 API has no scaled"):
        quantize_q7(graph, data, QuantizeOptions(calibration=600))


class Mixed(nn.Module):
    """BatchNorm, an identity shortcut, ZeroPad2d((0, 1, 0, 1)) before a stride-2
    convolution with a projection shortcut, a depthwise layer with multiplier 2; on
    ``size`` x ``size`` images of ``channels`` channels."""

    def __init__(self, channels: int = 3, size: int = 12, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.down = nn.Conv2d(8, 16, 3, stride=2)
        self.project = nn.Conv2d(8, 16, 1, stride=2)
        self.depthwise = nn.Conv2d(16, 32, 3, padding=1, groups=16)
        self.fc = nn.Linear(32 * (size // 2) ** 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        y = torch.relu(self.conv_b(torch.relu(self.conv_a(x))) + x)
        z = torch.relu(self.down(self.pad(y)) + self.project(y))
        z = torch.relu(self.depthwise(z))
        return self.fc(torch.flatten(z, 1))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """The Mixed net exported, imported, checked for its folded Pad and multiplier 2, and
    quantized for s8; with its data set."""
    torch.manual_seed(6)
    torch_model = _trained_like(Mixed(), 6)
    path = export(torch_model, tmp_path_factory.mktemp("mixed") / "mixed.onnx", "torchscript")
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    depthwise = next(layer.op for layer in graph.layers if isinstance(layer.op, DepthwiseConv2D))
    assert depthwise.multiplier == 2 and graph.shapes[graph.layers[-1].name].c == 5
    down = [
        layer.op
        for layer in graph.layers
        if isinstance(layer.op, Conv2D) and layer.op.stride == (2, 2)
    ]
    assert (0, 0, 1, 1) in [op.pad for op in down]  # the ZeroPad2d, folded
    data = dataset(torch_model, 6)
    s8 = quantize_s8(graph, data, calibration=600)
    # random weights, images labelled by the float net itself: agreement, not accuracy
    assert s8.report["s8_accuracy"] >= 0.95
    return s8.model, data


def _mismatches(
    model: object, data: object, target: str, tmp_path: Path, kernels: str = "portable"
) -> int:
    program = lower(model, kernels)  # type: ignore[arg-type]
    root = Path(str(CMSIS_NN_ROOT)) if kernels == "cmsis" else None
    generate_atomically(program, tmp_path / "project", kernels, root)
    images, labels = data.test.images, data.test.labels  # type: ignore[attr-defined]
    if target == "host":
        binary = build_host(tmp_path / "project", "-O2" if kernels == "cmsis" else SANITIZE)
        return verify_host(program, binary, images, labels, tmp_path).mismatches
    board = TARGETS[target]
    run = run_images(program, build_target(tmp_path / "project", board), board, images, tmp_path)
    return compare_outputs(program, run.outputs, images, labels).mismatches


@pytest.mark.cortex_m
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_pad_shortcuts_and_a_depth_multiplier_verify(
    mixed: tuple[object, object], target: str, tmp_path: Path
) -> None:
    model, data = mixed
    kernels = [call.kernel for call in lower(model).calls]  # type: ignore[arg-type]
    assert any(k.name == "arm_depthwise_conv_s8" and "multiplier 2" in k.reason for k in kernels)
    assert _mismatches(model, data, target, tmp_path) == 0


@pytest.mark.cortex_m
@needs_cmsis_nn
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_the_mixed_net_against_real_cmsis_nn(
    mixed: tuple[object, object], target: str, tmp_path: Path
) -> None:
    model, data = mixed
    assert _mismatches(model, data, target, tmp_path, "cmsis") == 0


@pytest.mark.cortex_m
def test_a_trained_residual_net_keeps_its_accuracy_in_s8(tmp_path: Path) -> None:
    """Trained in PyTorch on digits: the s8 test accuracy is within 1 point of float, and
    the C matches the simulator on the host and the Cortex-M4."""
    from nn2mcu.datasets import load_dataset

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = Mixed(channels=1, size=8, classes=10)  # on scikit-learn's 8 x 8 digits
    images = torch.from_numpy(
        ((data.train.images.astype("float32") - MEAN) * SCALE).transpose(0, 3, 1, 2).copy()
    )
    labels = torch.from_numpy(data.train.labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for _ in range(25):
        for start in range(0, len(images), 64):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(
                model(images[start : start + 64]), labels[start : start + 64]
            )
            loss.backward()
            optimizer.step()
    model.eval()
    path = tmp_path / "digits.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (images[:1],), str(path), dynamo=False)
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    assert any(
        isinstance(layer.op, DepthwiseConv2D) and layer.op.multiplier == 2 for layer in graph.layers
    )
    s8 = quantize_s8(graph, data, calibration=1000)
    assert s8.report["float_accuracy"] > 0.9
    assert s8.report["s8_accuracy"] >= s8.report["float_accuracy"] - 0.01
    for target in ("host", "cortex-m4"):
        assert _mismatches(s8.model, data, target, tmp_path / target) == 0
