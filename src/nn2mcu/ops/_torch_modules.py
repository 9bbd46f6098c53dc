"""PyTorch modules for operators that torch.nn lacks in the shape nn2mcu uses (NCHW, 4-D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ChannelAffine(torch.nn.Module):
    """y = (x - mean) / sqrt(variance + eps), or y = x * scale (+ bias), per channel."""

    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, channels: int, kind: str, eps: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.eps = eps
        if kind == "batch_norm":
            self.register_buffer("mean", torch.zeros(channels))
            self.register_buffer("variance", torch.ones(channels))
        else:
            self.scale = torch.nn.Parameter(torch.ones(channels))
            self.bias = torch.nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        if self.kind == "batch_norm":
            return (x - self.mean.view(shape)) / torch.sqrt(self.variance.view(shape) + self.eps)
        y = x * self.scale.view(shape)
        return y if self.bias is None else y + self.bias.view(shape)


class FlattenToVector(torch.nn.Module):
    """(N, C, H, W) -> (N, C*H*W, 1, 1): in CHW order, kept 4-D as Caffe's blobs are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1, 1, 1)


class InnerProduct(torch.nn.Linear):
    """A linear layer on the CHW-flattened input, returning (N, out, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x.reshape(x.shape[0], -1))
        return y.reshape(y.shape[0], -1, 1, 1)


class PaddedConv2d(torch.nn.Conv2d):
    """A convolution whose padding differs between the two sides of an axis: the input is
    padded with zeros (top, left, bottom, right) before an unpadded convolution."""

    def __init__(
        self,
        channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        pad: tuple[int, int, int, int],
        groups: int,
        bias: bool,
    ) -> None:
        super().__init__(channels, out_channels, kernel, stride, groups=groups, bias=bias)
        top, left, bottom, right = pad
        self.explicit = (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.explicit))


class Sum(torch.nn.Module):
    """The element-wise sum of two tensors of one shape."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b
