"""passes.fold_pad on networks exported from PyTorch with ZeroPad2d: zeros on one side
before a stride-2 convolution and before a max pooling after a ReLU fold into their
padding (the float check against onnxruntime passes, the s8 C verifies with 0 mismatching
bytes); before an average pooling, or a max pooling of values that may be negative, the
Pad is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx import load_onnx
from nn2mcu.ops import Conv2D, Pad, Pool2D
from nn2mcu.quant.s8.quantize import quantize_s8
from tests.frontends.test_onnx import MEAN, SCALE, _trained_like, _verified, dataset, export


class Padded(nn.Module):
    def __init__(self, pool: str = "max", relu: bool = True) -> None:
        super().__init__()
        self.pool, self.relu = pool, relu
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # left, right, top, bottom
        self.conv2 = nn.Conv2d(8, 12, 3, stride=2)
        self.fc = nn.Linear(12 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = torch.relu(x) if self.relu else x
        x = self.pad(x)
        x = (
            nn.functional.max_pool2d(x, 3, 2)
            if self.pool == "max"
            else nn.functional.avg_pool2d(x, 3, 2)
        )
        x = torch.relu(self.conv2(self.pad(x)))
        return self.fc(torch.flatten(x, 1))


@pytest.mark.host
def test_one_sided_zeros_fold_and_verify(tmp_path: Path) -> None:
    torch.manual_seed(7)
    torch_model = _trained_like(Padded(), 7)
    graph = load_onnx(
        export(torch_model, tmp_path / "padded.onnx", "torchscript"), mean=(MEAN,), scale=SCALE
    )
    assert not any(isinstance(layer.op, Pad) for layer in graph.layers)
    pool = next(layer.op for layer in graph.layers if isinstance(layer.op, Pool2D))
    conv2 = [layer.op for layer in graph.layers if isinstance(layer.op, Conv2D)][1]
    assert pool.pad == (0, 0, 1, 1) and conv2.pad == (0, 0, 1, 1) and conv2.stride == (2, 2)
    data = dataset(torch_model, 7)
    s8 = quantize_s8(graph, data, calibration=600)
    assert s8.report["s8_accuracy"] >= 0.95  # random weights, labels from the float net
    assert _verified(s8.model, data, tmp_path / "s8") == 0


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (Padded(pool="average"), "cannot fold into an average pooling"),
        (Padded(relu=False), "fold into a max pooling only after a ReLU or ReLU6"),
    ],
    ids=["average-pool", "max-pool-of-signed-values"],
)
def test_pads_that_cannot_fold_are_refused(model: nn.Module, reason: str, tmp_path: Path) -> None:
    path = export(_trained_like(model, 7), tmp_path / "padded.onnx", "torchscript")
    with pytest.raises(InputError, match=rf"Pad '[^']+' before Pooling '[^']+': .*{reason}"):
        load_onnx(path, mean=(MEAN,), scale=SCALE)
