"""Depthwise convolution (one filter per channel, depth multiplier 1).

Weights are (1, KH, KW, C): ``weight[0, ky, kx, c]``; bias has one value per channel.
The output size rule is the convolution's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pair, check_window, geometry_text
from nn2mcu.ops.conv2d import conv_output_hw
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class DepthwiseConv2D(Op):
    kind = "depthwise_conv2d"
    type_name = "DepthwiseConvolution"

    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    bias: bool = True

    def __post_init__(self) -> None:
        check_window(self.kernel, self.stride, self.pad)

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        h, w = conv_output_hw(inputs[0], self.kernel, self.stride, self.pad)
        return Shape(h, w, inputs[0].c)

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c
        shapes: dict[str, tuple[int, ...]] = {
            "weight": (1, self.kernel[0], self.kernel[1], channels)
        }
        if self.bias:
            shapes["bias"] = (channels,)
        return shapes

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return output.size * self.kernel[0] * self.kernel[1]

    def geometry(self) -> str:
        return geometry_text(self.kernel, self.stride, self.pad)
