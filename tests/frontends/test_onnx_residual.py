"""Residual networks from PyTorch through ONNX: element-wise Add of two computed tensors
(an identity and a projection shortcut, BatchNorm folded), quantized for s8 and verified
on the host with 0 mismatching bytes; q7 refuses the Add with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nn2mcu.codegen.lower import lower
from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx import load_onnx
from nn2mcu.ops import Add
from nn2mcu.quant.q7.quantize import QuantizeOptions, quantize_q7
from nn2mcu.quant.s8.quantize import quantize_s8
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
    torch_model = _trained_like(Residual(), 5)
    path = export(torch_model, tmp_path / "residual.onnx", "torchscript")
    graph = load_onnx(path, mean=(MEAN,), scale=SCALE)
    adds = [layer for layer in graph.layers if isinstance(layer.op, Add)]
    assert len(adds) == 2 and all(len(layer.inputs) == 2 for layer in adds)
    data = dataset(torch_model, 5)
    s8 = quantize_s8(graph, data, calibration=600)
    assert s8.report["s8_accuracy"] >= s8.report["float_accuracy"] - 0.01
    assert {name for name in s8.model.pool_activation} >= {layer.name for layer in adds}
    program = lower(s8.model)
    assert [call.kernel.name for call in program.calls].count("arm_elementwise_add_s8") == 2
    assert _verified(s8.model, data, tmp_path / "s8") == 0
    with pytest.raises(InputError, match=r"\(Add\): the legacy CMSIS-NN q7 API has no scaled"):
        quantize_q7(graph, data, QuantizeOptions(calibration=600))
