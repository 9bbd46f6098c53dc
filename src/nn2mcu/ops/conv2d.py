"""Convolution (2-D, dense): attributes, shape rule, counts, float reference.

Weights are OHWI: ``weight[o, ky, kx, i]`` (NCHW frameworks: OIHW); bias has one
value per output channel. Output size per axis: floor((in + 2 * pad - kernel) /
stride) + 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, Op, ShapeError, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pair, check_window, geometry_text, patches
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import AnyIntArray, Int8Array, IntArray
from nn2mcu.q7.matmul import conv_q7
from nn2mcu.s8.kernels import conv_s8

if TYPE_CHECKING:
    import torch


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Convolution output length along one axis (floor rounding)."""
    span = size + 2 * pad - kernel
    if span < 0:
        raise ShapeError(f"kernel {kernel} is larger than the padded input {size + 2 * pad}")
    return span // stride + 1


def conv_output_hw(x: Shape, kernel: Pair, stride: Pair, pad: Pair) -> tuple[int, int]:
    """Convolution output height and width for input ``x``."""
    return (
        conv_output_size(x.h, kernel[0], stride[0], pad[0]),
        conv_output_size(x.w, kernel[1], stride[1], pad[1]),
    )


@register
@dataclass(frozen=True)
class Conv2D(Op):
    kind = "conv2d"
    type_name = "Convolution"

    out_channels: int
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    bias: bool = True

    def __post_init__(self) -> None:
        if self.out_channels < 1:
            raise ValueError(f"out_channels must be >= 1, got {self.out_channels}")
        check_window(self.kernel, self.stride, self.pad)

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        h, w = conv_output_hw(inputs[0], self.kernel, self.stride, self.pad)
        return Shape(h, w, self.out_channels)

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {
            "weight": (self.out_channels, self.kernel[0], self.kernel[1], inputs[0].c)
        }
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return output.size * self.kernel[0] * self.kernel[1] * inputs[0].c

    def geometry(self) -> str:
        return geometry_text(self.kernel, self.stride, self.pad)

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        windows = patches(inputs[0], self.kernel, self.stride, self.pad, 0.0)
        # windows: N, OH, OW, C, KH, KW; weight: O, KH, KW, C
        out: Array = np.einsum("nhwcyx,oyxc->nhwo", windows, weights["weight"].astype(np.float64))
        if self.bias:
            out = out + weights["bias"].astype(np.float64)
        return out

    def nchw_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(0, 3, 1, 2)}

    def ir_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(0, 2, 3, 1)}

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.Conv2d(
            inputs[0].c,
            self.out_channels,
            kernel_size=self.kernel,
            stride=self.stride,
            padding=self.pad,
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
        """arm_convolve_wrapper_s8 (CMSIS-NN v7.0.0): per output channel,
        clamp(requantize(bias + sum (x + input_offset) * w) + output_offset)."""
        return conv_s8(
            x, weight, bias, stride=self.stride, pad=self.pad, input_offset=input_offset,
            output_offset=output_offset, multiplier=multiplier, shift=shift,
            activation=activation, single_rounding=single_rounding,
        )  # fmt: skip

    def q7_reference(
        self, x: AnyIntArray, weight: IntArray, bias: IntArray, *, bias_shift: int, out_shift: int
    ) -> Int8Array:
        """arm_convolve_HWC_q7_basic/_fast/_RGB, their _nonsquare forms and
        arm_convolve_1x1_HWC_q7_fast_nonsquare (one arithmetic): per output,
        SSAT8(wrap32((bias << bias_shift) + NN_ROUND(out_shift) + sum x*w) >> out_shift);
        padding reads 0. ``x`` is an NHWC batch of int8 values."""
        return conv_q7(
            x,
            weight,
            bias if self.bias else None,
            stride=self.stride,
            pad=self.pad,
            bias_shift=bias_shift,
            out_shift=out_shift,
        )
