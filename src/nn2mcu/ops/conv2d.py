"""Convolution (2-D, dense): attributes, shape rule, counts, float reference, and its
bindings to the legacy q7 kernels and to CMSIS-NN's s8 kernels.

Weights are OHWI: ``weight[o, ky, kx, i]`` (NCHW frameworks: OIHW); bias has one value per
output channel. Padding is (top, left, bottom, right). Output size per axis:
floor((in + before + after - kernel) / stride) + 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nn2mcu.cgen import c_macro, c_name
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, Op, ShapeError, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _q7, _s8
from nn2mcu.ops._window import (
    Pad,
    Pair,
    axis_pad,
    byte_lead,
    check_window,
    geometry_text,
    patches,
)
from nn2mcu.ops.registry import bind, register
from nn2mcu.q7.matmul import conv_q7
from nn2mcu.s8.kernels import conv_s8

if TYPE_CHECKING:
    import torch


def conv_output_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    """Convolution output length along one axis (floor rounding)."""
    span = size + before + after - kernel
    if span < 0:
        raise ShapeError(f"kernel {kernel} is larger than the padded input {size + before + after}")
    return span // stride + 1


def conv_output_hw(x: Shape, kernel: Pair, stride: Pair, pad: Pad) -> tuple[int, int]:
    """Convolution output height and width for input ``x``."""
    return (
        conv_output_size(x.h, kernel[0], stride[0], *axis_pad(pad, 0)),
        conv_output_size(x.w, kernel[1], stride[1], *axis_pad(pad, 1)),
    )


def torch_conv(
    channels: int, out_channels: int, kernel: Pair, stride: Pair, pad: Pad, groups: int,
    bias: bool,
) -> torch.nn.Module:  # fmt: skip
    """A torch.nn.Conv2d; padding that differs between the sides of an axis is applied
    explicitly before it."""
    import torch

    from nn2mcu.ops._torch_modules import PaddedConv2d

    if pad[:2] == pad[2:]:
        return torch.nn.Conv2d(
            channels, out_channels, kernel_size=kernel, stride=stride, padding=pad[:2],
            groups=groups, bias=bias,
        )  # fmt: skip
    return PaddedConv2d(channels, out_channels, kernel, stride, pad, groups, bias)


@register
@dataclass(frozen=True)
class Conv2D(Op):
    kind = "conv2d"
    type_name = "Convolution"

    out_channels: int
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pad = (0, 0, 0, 0)
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
        return torch_conv(
            inputs[0].c, self.out_channels, self.kernel, self.stride, self.pad, 1, self.bias
        )


def q7_square(site: Site) -> bool:
    """Whether the square (not _nonsquare) legacy kernels apply: a square image, kernel,
    stride and output, and equal top and left padding (the one padding they take)."""
    op, x, y = site.op, site.x, site.output
    return (
        x.h == x.w
        and y.h == y.w
        and op.kernel[0] == op.kernel[1]
        and op.pad[0] == op.pad[1]
        and op.stride[0] == op.stride[1]
    )


def q7_convolution_call(site: Site, call: Call) -> list[CStatement]:
    """The call of a legacy q7 convolution (ordinary or depthwise, square or not)."""
    name, p, k = c_name(site.name), c_macro(site.name), call.kernel.name
    src, dst = _q7.arena(call.input), _q7.arena(call.output)
    scratch = _q7.scratch_pointer(call, "q15_t")
    weights = f"{name}_wt, {p}_OUT_CH"
    tail = f"{name}_bias, {p}_BIAS_LSHIFT, {p}_OUT_RSHIFT, {dst}"
    if k.endswith("_nonsquare"):
        args = (
            f"{src}, {p}_IN_X, {p}_IN_Y, {p}_IN_CH, {weights}, {p}_KER_X, {p}_KER_Y, "
            f"{p}_PAD_X, {p}_PAD_Y, {p}_STRIDE_X, {p}_STRIDE_Y, {tail}, {p}_OUT_X, "
            f"{p}_OUT_Y, {scratch}, NULL"
        )
    else:
        args = (
            f"{src}, {p}_IN_X, {p}_IN_CH, {weights}, {p}_KER_X, {p}_PAD_X, {p}_STRIDE_X, "
            f"{tail}, {p}_OUT_X, {scratch}, NULL"
        )
    return [CStatement(f"{k}({args})", checked=True)]


def q7_convolution_defines(site: Site, call: Call) -> dict[str, int]:
    return {**_cmsis.image_dims(site), **_cmsis.window_dims(site), **_q7.shift_dims(site)}


def q7_convolution_step(site: Site, x: IntArray, depthwise: bool) -> IntArray:
    """The legacy q7 convolution's arithmetic: per output, SSAT8(wrap32((bias << bias_shift)
    + NN_ROUND(out_shift) + sum x*w) >> out_shift); padding reads 0."""
    q = _q7.model_of(site).weighted[site.name]
    return conv_q7(
        x, q.weight, q.bias if site.op.bias else None, stride=site.op.stride, pad=site.op.pad,
        bias_shift=q.shifts.bias_shift, out_shift=q.shifts.out_shift, depthwise=depthwise,
    )  # fmt: skip


@bind
class Conv2DQ7(_q7.Q7Binding):
    """arm_convolve_HWC_q7_basic/_fast/_RGB, their _nonsquare forms and
    arm_convolve_1x1_HWC_q7_fast_nonsquare (one arithmetic)."""

    op = Conv2D
    functions = (
        "arm_convolve_HWC_q7_RGB", "arm_convolve_HWC_q7_fast", "arm_convolve_HWC_q7_basic",
        "arm_convolve_HWC_q7_fast_nonsquare", "arm_convolve_HWC_q7_basic_nonsquare",
        "arm_convolve_1x1_HWC_q7_fast_nonsquare",
    )  # fmt: skip
    constraints = (_q7.uint16_window,)

    def kernel(self, site: Site) -> Kernel:
        op, x = site.op, site.x
        square = q7_square(site)
        fast = x.c % 4 == 0 and op.out_channels % 2 == 0
        if square and x.c == 3:
            return Kernel("arm_convolve_HWC_q7_RGB", "square, 3 input channels")
        if op.kernel == (1, 1) and not any(op.pad) and op.stride == (1, 1) and fast:
            return Kernel(
                "arm_convolve_1x1_HWC_q7_fast_nonsquare",
                "1x1, pad 0, stride 1, ch_in % 4 = 0, ch_out % 2 = 0",
            )
        if square and fast:
            return Kernel("arm_convolve_HWC_q7_fast", "square, ch_in % 4 = 0, ch_out % 2 = 0")
        if not square and fast:
            return Kernel(
                "arm_convolve_HWC_q7_fast_nonsquare", "non-square, ch_in % 4 = 0, ch_out % 2 = 0"
            )
        if not square:
            return Kernel(
                "arm_convolve_HWC_q7_basic_nonsquare", "non-square, channels not fast-compatible"
            )
        return Kernel("arm_convolve_HWC_q7_basic", "square, channels not fast-compatible")

    def scratch(self, site: Site) -> int:
        return int(4 * site.x.c * site.op.kernel[0] * site.op.kernel[1])  # 2 * ch_in * kx * ky q15

    def input_overread(self, site: Site) -> int:
        """An _RGB convolution reads up to 3 bytes past its input."""
        return 3 if self.kernel(site).name.endswith("_RGB") else 0

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return q7_convolution_step(site, inputs[0], depthwise=False)

    def c_weights(self, site: Site, call: Call) -> str:
        weight = _q7.model_of(site).weighted[site.name].weight
        return _q7.weight_arrays(site, c_name(site.name), weight, "OHWI: [out][ky][kx][in]")

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return q7_convolution_defines(site, call)

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        return q7_convolution_call(site, call)


def _align4(value: int) -> int:
    return (value + 3) & ~3


def s8_weighted_step(site: Site, x: IntArray, depthwise: bool) -> IntArray:
    """Per output channel, clamp(requantize(bias + sum (x + input_offset) * w) +
    output_offset) (arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8)."""
    from nn2mcu.s8.kernels import depthwise_conv_s8

    model = _s8.model_of(site)
    q = model.weighted[site.name]
    function = depthwise_conv_s8 if depthwise else conv_s8
    return function(
        x, q.weight, q.bias, stride=site.op.stride, pad=site.op.pad,
        input_offset=_s8.input_offset(site),
        output_offset=model.tensors[site.name].zero_point, multiplier=q.multiplier,
        shift=q.shift, activation=q.activation, single_rounding=model.single_rounding,
    )  # fmt: skip


def s8_convolution_lead(
    x: tuple[int, int, int], out: tuple[int, int, int], stride: Pair, pad: Pad
) -> int:
    """The bytes the portable arm_convolve_wrapper_s8's output (h, w, c; one image) must
    start before its input to lie over it: every path goes through the output pixels in
    raster order and writes a pixel once its receptive field is read (the four-pixel path
    reads four fields first; the general path reads the field again per filter)."""
    return byte_lead(x[:2], out[:2], stride, pad, x[2], out[2])


def s8_convolution_staged(kernel: Pair, ch_in: int, input_offset: int) -> bool:
    """Whether the portable convolution gathers each receptive field contiguously first:
    rows of no whole number of words, at most 256 bytes, an offset in -127 .. 128."""
    return (
        (kernel[1] * ch_in) % 4 != 0
        and kernel[0] * kernel[1] * ch_in <= 256
        and -127 <= input_offset <= 128
    )


def s8_convolution_scratch(
    kernel: Pair, stride: Pair, pad: Pad, ch_in: int, ch_out: int, input_offset: int
) -> int:
    """What nn2mcu's portable arm_convolve_wrapper_s8_get_buffer_size asks (input_offset:
    the one the C is given): four int16 columns (its four-pixel path), and where it gathers
    the receptive fields first (rows of no whole number of words, at most 256 bytes, an
    offset in -127 .. 128) and their length is no multiple of 4, a copy of the filters
    padded to one; for an unpadded 1x1 convolution of depth 8 without input offset (pairs
    held in registers) none, or 2 * ch_in int16 at stride 1 (CMSIS-NN's 1x1 fast kernel
    under Arm Compiler 6)."""
    if kernel == (1, 1) and not any(pad) and ch_in == 8 and input_offset == 0:
        return 4 * ch_in if stride == (1, 1) else 0
    columns = kernel[0] * kernel[1] * ch_in
    staged = s8_convolution_staged(kernel, ch_in, input_offset)
    padded = ch_out * _align4(columns) if columns % 4 and staged else 0
    return 4 * _align4(columns) * 2 + padded


def _c_input_offset(site: Site) -> int:
    """The input offset the C is given: 0 where it is folded into the bias."""
    return 0 if _unpadded_1x1(site) else _s8.input_offset(site)


def _unpadded_1x1(site: Site) -> bool:
    """A 1x1 convolution without padding: every tap lies on the input, so the input offset
    folds into the bias (the C is given input offset 0)."""
    return site.op.kernel == (1, 1) and not any(site.op.pad)


@bind
class Conv2DS8(_s8.S8Binding):
    """arm_convolve_wrapper_s8 (CMSIS-NN v7.0.0) and what it dispatches to: 1x1 fast, 1x1,
    1xN and the generic kernel, which all compute the same. An unpadded 1x1 convolution is
    given the bias with the input offset folded in, and input offset 0."""

    op = Conv2D
    functions = ("arm_convolve_wrapper_s8",)
    fuses_activation: ClassVar[bool] = True

    def kernel(self, site: Site) -> Kernel:
        op, x = site.op, site.x
        name = "arm_convolve_wrapper_s8"
        if op.kernel == (1, 1) and not any(op.pad) and op.stride == (1, 1):
            return Kernel(
                name,
                "-> arm_convolve_1x1_s8_fast: 1x1, pad 0, stride 1; the input offset folded "
                "into the bias",
            )
        if op.kernel == (1, 1) and not any(op.pad):
            return Kernel(
                name, "-> arm_convolve_1x1_s8: 1x1, pad 0; the input offset folded into the bias"
            )
        if x.h == 1 and op.kernel[0] == 1 and (op.stride[1] * x.c) % 4 == 0:
            return Kernel(name, "-> arm_convolve_1_x_n_s8: input height 1, kernel 1 x N")
        return Kernel(name, "-> arm_convolve_s8: im2col and matrix multiplication")

    def portable_reason(self, site: Site) -> str | None:
        op, x = site.op, site.x
        folded = "; the input offset folded into the bias" if _unpadded_1x1(site) else ""
        if _unpadded_1x1(site) and x.c == 8:
            return "portable: 1x1 of depth 8, each pixel's values held in registers" + folded
        columns = op.kernel[0] * op.kernel[1] * x.c
        how = "portable: four pixels at a time through int16 columns, up to 16 filters a pass"
        if s8_convolution_staged(op.kernel, x.c, _c_input_offset(site)):
            how += "; each receptive field gathered first"
            if columns % 4:
                how += f", padded to {_align4(columns)} values (the filters too, in the scratch)"
        return how + folded

    def scratch(self, site: Site) -> int:
        """s8_convolution_scratch of the layer: it covers CMSIS-NN's own rules too (two
        columns for arm_convolve_s8 and 1_x_n, 2 * ch_in int16 for the 1x1 fast kernel
        under Arm Compiler 6, none for the strided 1x1 one), so stock CMSIS-NN gets
        enough."""
        op, x = site.op, site.x
        return s8_convolution_scratch(
            op.kernel, op.stride, op.pad, x.c, site.output.c, _c_input_offset(site)
        )

    def output_lead(self, site: Site, index: int) -> int | None:
        op, x, out = site.op, site.x, site.output
        return s8_convolution_lead((x.h, x.w, x.c), (out.h, out.w, out.c), op.stride, op.pad)

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return s8_weighted_step(site, inputs[0], depthwise=False)

    def c_weights(self, site: Site, call: Call) -> str:
        return _s8.weight_arrays(
            site, c_name(site.name), "OHWI: [out][ky][kx][in]", fold_offset=_unpadded_1x1(site)
        )

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return _s8.convolution_defines(site, call, self.scratch(site))

    def c_structs(self, site: Site, call: Call) -> list[str]:
        name, p = c_name(site.name), c_macro(site.name)
        folded = _unpadded_1x1(site)
        return [
            *_s8.image_structs(call),
            *([_s8.folded_note(site)] if folded else []),
            f"static const cmsis_nn_conv_params {name}_params = "
            f"{{{_s8.offsets(p, folded=folded)}, "
            f"{_s8.tiles(p)}, .dilation = {{.w = 1, .h = 1}}, .activation = "
            f"{_s8.activation(p)}}};",
            _s8.quant(name),
            _s8.dims(
                f"{name}_filter_dims", f"{p}_OUT_CH", f"{p}_KER_Y", f"{p}_KER_X", f"{p}_IN_CH"
            ),
            _s8.dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_CH"),
            _s8.weighted_args(call),
        ]

    def c_helper(self, site: Site, call: Call) -> str:
        return _s8.weighted_helper(call, "cmsis_nn_conv_params")

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        return [CStatement(_s8.weighted_call(call), checked=True)]
