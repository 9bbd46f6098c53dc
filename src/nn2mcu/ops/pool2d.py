"""Pooling, MAX and AVE, with Caffe's output size rule, and its bindings.

Padding is (top, left, bottom, right). Output size per axis, with ``ceil_mode`` (Caffe's
default and its only mode before round_mode existed): ceil((in + before + after - kernel)
/ stride) + 1; without it (ONNX, TFLite), floor. When any padding is present and the last
window would start at or beyond the end of the input (i.e. entirely in the padding), that
window is dropped: H=5, kernel 2, stride 2, pad 1 gives 3, not 4.

Windows clipped at the border average over the in-bounds elements when there is no
padding (Caffe's divisor counts padding positions only when pad > 0); with
``count_padding`` False (TFLite, ONNX count_include_pad=0) the divisor is always the
in-bounds count. The integer bindings model the kernels' own rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

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
    pad_text,
)
from nn2mcu.ops.registry import bind, register
from nn2mcu.q7.model import AverageVariant
from nn2mcu.q7.pooling import average_q7, max_q7
from nn2mcu.s8.kernels import pool_s8


class PoolMethod(enum.Enum):
    MAX = "MAX"
    AVE = "AVE"


def pool_output_size(
    size: int, kernel: int, stride: int, before: int, after: int, *, ceil_mode: bool
) -> int:
    """Pooled length along one axis."""
    span = size + before + after - kernel
    if span < 0:
        raise ShapeError(f"kernel {kernel} is larger than the padded input {size + before + after}")
    steps = -(-span // stride) if ceil_mode else span // stride
    return steps + 1


@register
@dataclass(frozen=True)
class Pool2D(Op):
    kind = "pool2d"
    type_name = "Pooling"

    method: PoolMethod
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pad = (0, 0, 0, 0)
    ceil_mode: bool = True
    count_padding: bool = True  # AVE: the divisor counts padded positions (Caffe)

    def __post_init__(self) -> None:
        if not isinstance(self.method, PoolMethod):
            raise ValueError(f"method must be a PoolMethod, got {self.method!r}")
        check_window(self.kernel, self.stride, self.pad)
        for index, value in enumerate(self.pad):
            kernel = self.kernel[index % 2]
            if value >= kernel:
                raise ValueError(f"pad {value} must be smaller than kernel {kernel}")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        (x,) = inputs
        h, w = (self._pooled(axis, size) for axis, size in enumerate((x.h, x.w)))
        return Shape(h, w, x.c)

    def _pooled(self, axis: int, size: int) -> int:
        kernel, stride = self.kernel[axis], self.stride[axis]
        before, after = axis_pad(self.pad, axis)
        out = pool_output_size(size, kernel, stride, before, after, ceil_mode=self.ceil_mode)
        if any(self.pad) and (out - 1) * stride >= size + before:
            out -= 1
        if (out - 1) * stride - before >= size:
            raise ShapeError(
                f"the last window starts at {(out - 1) * stride - before}, past the input of "
                f"size {size} (kernel {kernel} is smaller than stride {stride})"
            )
        return out

    def windows(self, axis: int, size: int) -> list[tuple[int, int, int]]:
        """Per output index along ``axis``: (start, end, divisor span) as Caffe computes them.

        start/end bound the in-bounds elements; the AVE divisor counts the window's
        positions inside the padded extent [-before, size + after), or (``count_padding``
        False) the in-bounds ones.
        """
        kernel, stride = self.kernel[axis], self.stride[axis]
        before, after = axis_pad(self.pad, axis)
        spans = []
        for index in range(self._pooled(axis, size)):
            start = index * stride - before
            end = min(start + kernel, size + after)
            first, last = max(start, 0), min(end, size)
            spans.append((first, last, end - start if self.count_padding else last - first))
        return spans

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64)
        rows, columns = self.windows(0, x.shape[1]), self.windows(1, x.shape[2])
        out = np.empty((x.shape[0], len(rows), len(columns), x.shape[3]))
        for i, (y0, y1, divisor_y) in enumerate(rows):
            for j, (x0, x1, divisor_x) in enumerate(columns):
                window = x[:, y0:y1, x0:x1, :]
                if self.method is PoolMethod.MAX:
                    out[:, i, j, :] = window.max(axis=(1, 2))
                else:
                    out[:, i, j, :] = window.sum(axis=(1, 2)) / (divisor_y * divisor_x)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        return caffe_pool_module(self, inputs[0])

    def geometry(self) -> str:
        return f"{self.method.value} " + geometry_text(self.kernel, self.stride, self.pad)


class _ExplicitPadPool(torch.nn.Module):
    divisor: torch.Tensor

    def __init__(self, op: Pool2D, x: Shape) -> None:
        super().__init__()
        self.maximum = op.method is PoolMethod.MAX
        self.kernel = op.kernel
        self.stride = op.stride
        rows, columns = op.windows(0, x.h), op.windows(1, x.w)
        extent_y = (len(rows) - 1) * op.stride[0] + op.kernel[0]
        extent_x = (len(columns) - 1) * op.stride[1] + op.kernel[1]
        # left, right, top, bottom; a negative pad crops
        self.padding = (
            op.pad[1],
            extent_x - x.w - op.pad[1],
            op.pad[0],
            extent_y - x.h - op.pad[0],
        )
        divisors = np.outer([d for _, _, d in rows], [d for _, _, d in columns])
        self.register_buffer("divisor", torch.tensor(divisors, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.maximum:
            padded = F.pad(x, self.padding, value=float("-inf"))
            return F.max_pool2d(padded, self.kernel, self.stride)
        padded = F.pad(x, self.padding, value=0.0)
        sums = F.avg_pool2d(padded, self.kernel, self.stride, divisor_override=1)
        return sums / self.divisor


def caffe_pool_module(op: Pool2D, x: Shape) -> torch.nn.Module:
    """PyTorch pooling with Caffe's semantics (output size, clipping, AVE divisor).

    PyTorch's own pooling with ceil_mode=True and count_include_pad=True computes
    exactly Caffe's windows and divisors, but only accepts the same pad <= kernel / 2 on
    both sides; other pads (Caffe allows pad < kernel; ONNX and TFLite may pad the two sides
    of an axis differently) pad explicitly and divide by Caffe's divisors.
    """
    pad = op.pad[:2]
    native = (
        op.pad[2:] == pad
        and all(2 * pad[axis] <= op.kernel[axis] for axis in (0, 1))
        and (op.count_padding or not any(pad))
    )
    if not native:
        return _ExplicitPadPool(op, x)
    if op.method is PoolMethod.MAX:
        return torch.nn.MaxPool2d(op.kernel, op.stride, pad, ceil_mode=op.ceil_mode)
    return torch.nn.AvgPool2d(
        op.kernel, op.stride, pad, ceil_mode=op.ceil_mode, count_include_pad=True
    )


def _no_padding(site: Site) -> bool | str:
    """the legacy q7 pooling kernels do not compute Caffe's padded windows (pad must be 0)"""
    return not any(site.op.pad) or f"pad {pad_text(site.op.pad)}"


def _square(site: Site) -> bool:
    """the legacy q7 pooling kernels take square images, kernels and strides only"""
    op, x = site.op, site.x
    return op.kernel[0] == op.kernel[1] and op.stride[0] == op.stride[1] and x.h == x.w


@bind
class Pool2DQ7(_q7.Q7Binding):
    """arm_maxpool_q7_HWC / arm_avepool_q7_HWC. MAX: the largest value of each clipped
    window. AVE, DSP build: for every input row and output column, trunc(sum / count) over
    the columns; then for every output row, trunc(sum / count) over the rows of those; C
    truncation toward zero. AVE, 2-D variant (CMSIS-NN's plain-C build): trunc(window sum
    / count)."""

    op = Pool2D
    functions = ("arm_maxpool_q7_HWC", "arm_avepool_q7_HWC")
    constraints = (_no_padding, _square, _q7.uint16_window)

    def kernel(self, site: Site) -> Kernel:
        if site.op.method is PoolMethod.MAX:
            return Kernel("arm_maxpool_q7_HWC", "max pooling")
        return Kernel("arm_avepool_q7_HWC", "average pooling")

    def scratch(self, site: Site) -> int:
        if site.op.method is PoolMethod.AVE:
            return 2 * site.output.w * site.x.c
        return 0

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        op, x = site.op, inputs[0]
        if op.method is PoolMethod.MAX:
            return max_q7(x, op.kernel, op.stride, op.ceil_mode)
        rows, columns = op.windows(0, x.shape[1]), op.windows(1, x.shape[2])
        return average_q7(
            x, op.kernel, op.stride, [e - s for s, e, _ in rows], [e - s for s, e, _ in columns],
            two_passes=_q7.model_of(site).pool_variant is AverageVariant.DSP,
            ceil_mode=op.ceil_mode,
        )  # fmt: skip

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return {**_cmsis.image_dims(site), **_cmsis.window_dims(site)}

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        p = c_macro(site.name)
        buffer = _q7.scratch_pointer(call, "q7_t")
        return [
            CStatement(
                f"{call.kernel.name}({_q7.arena(call.input)}, {p}_IN_X, {p}_IN_CH, {p}_KER_X, "
                f"{p}_PAD_X, {p}_STRIDE_X, {p}_OUT_X, {buffer}, {_q7.arena(call.output)});"
            )
        ]


def _average_without_padding(site: Site) -> bool | str:
    """average pooling with padding counted in its divisor has no s8 kernel (arm_avgpool_s8
    divides by the in-bounds count, Caffe counts the padding)"""
    op = site.op
    ok = op.method is PoolMethod.MAX or not any(op.pad) or not op.count_padding
    return ok or f"pad {pad_text(site.op.pad)}"


def s8_pool_lead(x: tuple[int, int, int], out_hw: Pair, stride: Pair, pad: Pad) -> int:
    """The bytes the portable pooling kernels' output (one image) must start before their
    input (h, w, c) to lie over it: output pixels in raster order, each channel (or four)
    written once its window is read, the next channels' windows read after."""
    return byte_lead(x[:2], out_hw, stride, pad, x[2], x[2])


@bind
class Pool2DS8(_s8.S8Binding):
    """arm_max_pool_s8 / arm_avgpool_s8 (CMSIS-NN v7.0.0): windows clipped to the image;
    the average divides by the in-bounds count, ties away from zero."""

    op = Pool2D
    functions = ("arm_max_pool_s8", "arm_avgpool_s8")
    constraints = (_average_without_padding,)
    fuses_activation: ClassVar[bool] = True

    def kernel(self, site: Site) -> Kernel:
        if site.op.method is PoolMethod.MAX:
            return Kernel("arm_max_pool_s8", "max pooling")
        return Kernel("arm_avgpool_s8", "average pooling (in-bounds count)")

    def scratch(self, site: Site) -> int:
        if site.op.method is PoolMethod.AVE:
            return 4 * site.x.c  # arm_avgpool_s8, DSP
        return 0

    def _activation(self, site: Site) -> tuple[int, int]:
        return _s8.model_of(site).pool_activation.get(site.name, (_s8.QMIN, _s8.QMAX))

    def output_lead(self, site: Site, index: int) -> int | None:
        op, x, out = site.op, site.x, site.output
        return s8_pool_lead((x.h, x.w, x.c), (out.h, out.w), op.stride, op.pad)

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        op, shape = site.op, site.output
        return pool_s8(
            inputs[0], kernel=op.kernel, stride=op.stride, pad=op.pad,
            out_shape=(shape.h, shape.w), average=op.method is PoolMethod.AVE,
            activation=self._activation(site),
        )  # fmt: skip

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        low, high = self._activation(site)
        return {
            **_cmsis.image_dims(site), **_cmsis.window_dims(site), "ACT_MIN": low,
            "ACT_MAX": high, **_s8.scratch_define(call, self.scratch(site)),
        }  # fmt: skip

    def c_structs(self, site: Site, call: Call) -> list[str]:
        name, p = c_name(site.name), c_macro(site.name)
        return [
            *_s8.image_structs(call),
            f"static const cmsis_nn_pool_params {name}_params = {{{_s8.tiles(p)}, "
            f".activation = {_s8.activation(p)}}};",
            _s8.dims(f"{name}_filter_dims", "1", f"{p}_KER_Y", f"{p}_KER_X", "1"),
        ]

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        name = c_name(site.name)
        return [
            CStatement(
                f"{call.kernel.name}(&{name}_ctx, &{name}_params, &{name}_input_dims, "
                f"{_s8.arena(call.input)}, &{name}_filter_dims, &{name}_output_dims, "
                f"{_s8.arena(call.output)})",
                checked=True,
            )
        ]
