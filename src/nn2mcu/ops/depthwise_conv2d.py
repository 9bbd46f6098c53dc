"""Depthwise convolution (one filter per channel, depth multiplier 1).

Weights are (1, KH, KW, C): ``weight[0, ky, kx, c]`` (NCHW frameworks: (C, 1, KH,
KW)); bias has one value per channel. The output size rule is the convolution's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pair, check_window, geometry_text, patches
from nn2mcu.ops.conv2d import conv_output_hw
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import AnyIntArray, Int8Array, IntArray
from nn2mcu.q7.matmul import conv_q7
from nn2mcu.s8.kernels import depthwise_conv_s8

if TYPE_CHECKING:
    import torch


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

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        windows = patches(inputs[0], self.kernel, self.stride, self.pad, 0.0)
        out: Array = np.einsum("nhwcyx,yxc->nhwc", windows, weights["weight"][0].astype(np.float64))
        if self.bias:
            out = out + weights["bias"].astype(np.float64)
        return out

    def nchw_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(3, 0, 1, 2)}

    def ir_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(1, 2, 3, 0)}

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        channels = inputs[0].c
        return torch.nn.Conv2d(
            channels,
            channels,
            kernel_size=self.kernel,
            stride=self.stride,
            padding=self.pad,
            groups=channels,
            bias=self.bias,
        )

    def s8_reference(
        self,
        x: AnyIntArray,
        weight: IntArray,
        bias: IntArray | None,
        *,
        input_offset: int,
        output_offset: int,
        multiplier: IntArray,
        shift: IntArray,
        activation: tuple[int, int] = (-128, 127),
        single_rounding: bool = False,
    ) -> Int8Array:
        """arm_depthwise_conv_wrapper_s8 (CMSIS-NN v7.0.0, channel multiplier 1): per
        channel, clamp(requantize(bias + sum (x + input_offset) * w) + output_offset)."""
        return depthwise_conv_s8(
            x, weight, bias, stride=self.stride, pad=self.pad, input_offset=input_offset,
            output_offset=output_offset, multiplier=multiplier, shift=shift,
            activation=activation, single_rounding=single_rounding,
        )  # fmt: skip

    def q7_reference(
        self, x: AnyIntArray, weight: IntArray, bias: IntArray, *, bias_shift: int, out_shift: int
    ) -> Int8Array:
        """arm_depthwise_separable_conv_HWC_q7 (and _nonsquare): the convolution's
        arithmetic, one filter per channel."""
        return conv_q7(
            x,
            weight,
            bias if self.bias else None,
            stride=self.stride,
            pad=self.pad,
            bias_shift=bias_shift,
            out_shift=out_shift,
            depthwise=True,
        )
