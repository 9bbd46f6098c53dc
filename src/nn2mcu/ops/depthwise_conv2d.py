"""Depthwise convolution (``multiplier`` filters per input channel), and its bindings.

Output channel c * multiplier + m filters input channel c. Weights are (1, KH, KW, C *
multiplier), TFLite's layout: ``weight[0, ky, kx, c * multiplier + m]`` (NCHW frameworks:
(C * multiplier, 1, KH, KW), groups = C); bias has one value per output channel. The
output size rule is the convolution's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nn2mcu.cgen import c_macro, c_name
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _q7, _s8
from nn2mcu.ops._window import (
    Pad,
    Pair,
    byte_lead,
    check_window,
    geometry_text,
    patches,
    pixel_lead,
)
from nn2mcu.ops.conv2d import (
    conv_output_hw,
    q7_convolution_call,
    q7_convolution_defines,
    q7_convolution_step,
    q7_square,
    s8_weighted_step,
    torch_conv,
)
from nn2mcu.ops.registry import bind, register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class DepthwiseConv2D(Op):
    kind = "depthwise_conv2d"
    type_name = "DepthwiseConvolution"
    weight_channel_axis = 3

    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pad = (0, 0, 0, 0)
    bias: bool = True
    multiplier: int = 1

    def __post_init__(self) -> None:
        check_window(self.kernel, self.stride, self.pad)
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, int):
            raise ValueError(f"multiplier must be an integer, got {self.multiplier!r}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        h, w = conv_output_hw(inputs[0], self.kernel, self.stride, self.pad)
        return Shape(h, w, inputs[0].c * self.multiplier)

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c * self.multiplier
        shapes: dict[str, tuple[int, ...]] = {
            "weight": (1, self.kernel[0], self.kernel[1], channels)
        }
        if self.bias:
            shapes["bias"] = (channels,)
        return shapes

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return output.size * self.kernel[0] * self.kernel[1]

    def geometry(self) -> str:
        text = geometry_text(self.kernel, self.stride, self.pad)
        return text if self.multiplier == 1 else f"{text} x{self.multiplier}"

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        windows = patches(inputs[0], self.kernel, self.stride, self.pad, 0.0)
        windows = np.repeat(windows, self.multiplier, axis=3)  # channel c * mult + m reads c
        out: Array = np.einsum("nhwcyx,yxc->nhwc", windows, weights["weight"][0].astype(np.float64))
        if self.bias:
            out = out + weights["bias"].astype(np.float64)
        return out

    def nchw_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(3, 0, 1, 2)}

    def ir_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": weights["weight"].transpose(1, 2, 3, 0)}

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        channels = inputs[0].c
        return torch_conv(
            channels, channels * self.multiplier, self.kernel, self.stride, self.pad, channels,
            self.bias,
        )  # fmt: skip


def _multiplier_one(site: Site) -> bool | str:
    """the legacy q7 depthwise kernels take one filter per channel (multiplier 1)"""
    return site.op.multiplier == 1 or f"multiplier {site.op.multiplier}"


def _even_channels(site: Site) -> bool | str:
    """the q7 depthwise kernels need an even channel count"""
    return site.x.c % 2 == 0 or f"{site.x.c} channels"


@bind
class DepthwiseConv2DQ7(_q7.Q7Binding):
    """arm_depthwise_separable_conv_HWC_q7 (and _nonsquare): the convolution's arithmetic,
    one filter per channel."""

    op = DepthwiseConv2D
    functions = (
        "arm_depthwise_separable_conv_HWC_q7",
        "arm_depthwise_separable_conv_HWC_q7_nonsquare",
    )
    constraints = (_multiplier_one, _even_channels, _q7.uint16_window)

    def kernel(self, site: Site) -> Kernel:
        name = "arm_depthwise_separable_conv_HWC_q7" + ("" if q7_square(site) else "_nonsquare")
        return Kernel(name, "depthwise, ch_in = ch_out, even")

    def scratch(self, site: Site) -> int:
        return int(4 * site.x.c * site.op.kernel[0] * site.op.kernel[1])

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return q7_convolution_step(site, inputs[0], depthwise=True)

    def c_weights(self, site: Site, call: Call) -> str:
        weight = _q7.model_of(site).weighted[site.name].weight
        return _q7.weight_arrays(site, c_name(site.name), weight, "[ky][kx][c]")

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return q7_convolution_defines(site, call)

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        return q7_convolution_call(site, call)


def s8_depthwise_lead(
    x: tuple[int, int, int], out_hw: Pair, stride: Pair, pad: Pad, multiplier: int
) -> int:
    """The bytes the portable depthwise kernel's output (one image) must start before its
    input (h, w, c) to lie over it. Multiplier 1: four channels (then one) over every
    output pixel in raster order, each written once its window is read, so each channel's
    lane is a raster pass of its own, and a lead of whole pixels keeps the lanes apart.
    Other multipliers: pixel by pixel, the window read again per output channel."""
    if multiplier != 1:
        return byte_lead(x[:2], out_hw, stride, pad, x[2], x[2] * multiplier)
    pixels = pixel_lead(x[:2], out_hw, stride, pad)
    whole = 4 // math.gcd(x[2], 4)  # pixels to a multiple of 4 bytes
    return -(-pixels // whole) * whole * x[2]


DEPTHWISE_STAGE_BYTES = 1024  # the portable kernel's limit of a staged block


def s8_depthwise_scratch(
    kernel: Pair, stride: Pair, out_hw: Pair, ch: int, multiplier: int, input_offset: int
) -> int:
    """What nn2mcu's portable arm_depthwise_conv_wrapper_s8_get_buffer_size asks: for
    multiplier 1, at least 4 channels and a -input_offset that is a byte, a block's taps and
    its padded input plane as words of four channels (every pixel then takes the interior
    path), where that takes at most DEPTHWISE_STAGE_BYTES; else nothing."""
    rows = (out_hw[0] - 1) * stride[0] + kernel[0]
    cols = (out_hw[1] - 1) * stride[1] + kernel[1]
    size = 4 * (kernel[0] * kernel[1] + rows * cols)
    if multiplier != 1 or ch < 4 or not -127 <= input_offset <= 128:
        return 0
    return size if size <= DEPTHWISE_STAGE_BYTES else 0


def _three_by_three(site: Site) -> bool:
    op = site.op
    return bool(op.multiplier == 1 and op.kernel == (3, 3) and max(op.pad[:2]) <= 1)


@bind
class DepthwiseConv2DS8(_s8.S8Binding):
    """arm_depthwise_conv_wrapper_s8 (CMSIS-NN v7.0.0): per output channel c * mult + m,
    clamp(requantize(bias + sum (x_c + input_offset) * w) + output_offset); with a channel
    multiplier above 1 the generic arm_depthwise_conv_s8, which the wrapper would call, is
    called directly."""

    op = DepthwiseConv2D
    functions = ("arm_depthwise_conv_wrapper_s8", "arm_depthwise_conv_s8")
    fuses_activation: ClassVar[bool] = True

    def kernel(self, site: Site) -> Kernel:
        if site.op.multiplier != 1:  # what the wrapper would call; called directly
            return Kernel(
                "arm_depthwise_conv_s8",
                f"channel multiplier {site.op.multiplier}: the generic kernel",
            )
        if _three_by_three(site):
            reason = "-> arm_depthwise_conv_3x3_s8: 3x3, pad <= 1"
        else:
            reason = "-> arm_depthwise_conv_s8_opt: channel multiplier 1"
        return Kernel("arm_depthwise_conv_wrapper_s8", reason)

    def portable_reason(self, site: Site) -> str | None:
        op, x, out = site.op, site.x, site.output
        if op.multiplier != 1:
            return None
        blocks = "portable: four channels at a time over every pixel"
        if s8_depthwise_scratch(
            op.kernel, op.stride, (out.h, out.w), x.c, 1, _s8.input_offset(site)
        ):
            blocks += ", each block's input plane staged with its padding (every pixel inside)"
        else:
            blocks += ", the input offset folded into the bias where the window lies inside"
        if op.kernel[1] == 3:
            blocks += "; the 3-wide window in assembly"
        return blocks + ("; the last channels one at a time" if x.c % 4 else "")

    def scratch(self, site: Site) -> int:
        """s8_depthwise_scratch, or what stock CMSIS-NN asks where that is more."""
        op, x, out = site.op, site.x, site.output
        portable = s8_depthwise_scratch(
            op.kernel, op.stride, (out.h, out.w), x.c, op.multiplier,
            _s8.input_offset(site),
        )  # fmt: skip
        if _three_by_three(site) or op.multiplier != 1:
            return portable
        return max(portable, int(x.c * op.kernel[0] * op.kernel[1] * 2))  # _s8_opt, DSP rule

    def output_lead(self, site: Site, index: int) -> int | None:
        op, x, out = site.op, site.x, site.output
        return s8_depthwise_lead((x.h, x.w, x.c), (out.h, out.w), op.stride, op.pad, op.multiplier)

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return s8_weighted_step(site, inputs[0], depthwise=True)

    def c_weights(self, site: Site, call: Call) -> str:
        return _s8.weight_arrays(site, c_name(site.name), "[ky][kx][c]")

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return _s8.convolution_defines(site, call, self.scratch(site))

    def c_structs(self, site: Site, call: Call) -> list[str]:
        name, p = c_name(site.name), c_macro(site.name)
        return [
            *_s8.image_structs(call),
            f"static const cmsis_nn_dw_conv_params {name}_params = {{{_s8.offsets(p)}, "
            f".ch_mult = {p}_OUT_CH / {p}_IN_CH, {_s8.tiles(p)}, "
            f".dilation = {{.w = 1, .h = 1}}, .activation = {_s8.activation(p)}}};",
            _s8.quant(name),
            _s8.dims(f"{name}_filter_dims", "1", f"{p}_KER_Y", f"{p}_KER_X", f"{p}_OUT_CH"),
            _s8.dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_CH"),
            _s8.weighted_args(call),
        ]

    def c_helper(self, site: Site, call: Call) -> str:
        return _s8.weighted_helper(call, "cmsis_nn_dw_conv_params")

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        return [CStatement(_s8.weighted_call(call), checked=True)]
