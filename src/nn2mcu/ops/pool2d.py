"""Pooling, MAX and AVE, with Caffe's output size rule.

Output size per axis, with ``ceil_mode`` (Caffe's default and its only mode before
round_mode existed): ceil((in + 2 * pad - kernel) / stride) + 1; without it, floor.
When any padding is present and the last window would start at or beyond the end
of the input plus padding (i.e. entirely in the padding), that window is dropped:
H=5, kernel 2, stride 2, pad 1 gives 3, not 4.

Windows clipped at the border average over the in-bounds elements when pad is 0
(Caffe's divisor counts padding positions only when pad > 0); the integer
references in later issues model the kernels' own rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nn2mcu.ir.op import Array, Op, ShapeError, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pair, check_window, geometry_text
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import Int8Array
from nn2mcu.s8.kernels import pool_s8

if TYPE_CHECKING:
    import torch


class AverageVariant(enum.Enum):
    """How arm_avepool_q7_HWC averages: the Cortex-M DSP build's two truncating passes
    (x, then y) or the plain-C build's single 2-D division (CMSIS-NN built for a host)."""

    DSP = "dsp"
    TWO_D = "2d"


class PoolMethod(enum.Enum):
    MAX = "MAX"
    AVE = "AVE"


def pool_output_size(size: int, kernel: int, stride: int, pad: int, *, ceil_mode: bool) -> int:
    """Pooled length along one axis; ``pad`` here is this axis's padding."""
    span = size + 2 * pad - kernel
    if span < 0:
        raise ShapeError(f"kernel {kernel} is larger than the padded input {size + 2 * pad}")
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
    pad: Pair = (0, 0)
    ceil_mode: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.method, PoolMethod):
            raise ValueError(f"method must be a PoolMethod, got {self.method!r}")
        check_window(self.kernel, self.stride, self.pad)
        for axis in (0, 1):
            if self.pad[axis] >= self.kernel[axis]:
                raise ValueError(
                    f"pad {self.pad[axis]} must be smaller than kernel {self.kernel[axis]}"
                )

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        (x,) = inputs
        h, w = (self._pooled(axis, size) for axis, size in enumerate((x.h, x.w)))
        return Shape(h, w, x.c)

    def _pooled(self, axis: int, size: int) -> int:
        kernel, stride, pad = self.kernel[axis], self.stride[axis], self.pad[axis]
        out = pool_output_size(size, kernel, stride, pad, ceil_mode=self.ceil_mode)
        if self.pad != (0, 0) and (out - 1) * stride >= size + pad:
            out -= 1
        if (out - 1) * stride - pad >= size:
            raise ShapeError(
                f"the last window starts at {(out - 1) * stride - pad}, past the input of size "
                f"{size} (kernel {kernel} is smaller than stride {stride})"
            )
        return out

    def windows(self, axis: int, size: int) -> list[tuple[int, int, int]]:
        """Per output index along ``axis``: (start, end, divisor span) as Caffe computes them.

        start/end bound the in-bounds elements; the AVE divisor counts the window's
        positions inside the padded extent [-pad, size + pad).
        """
        kernel, stride, pad = self.kernel[axis], self.stride[axis], self.pad[axis]
        spans = []
        for index in range(self._pooled(axis, size)):
            start = index * stride - pad
            end = min(start + kernel, size + pad)
            spans.append((max(start, 0), min(end, size), end - start))
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
        from nn2mcu.ops._torch_pool import caffe_pool_module

        return caffe_pool_module(self, inputs[0])

    def geometry(self) -> str:
        return f"{self.method.value} " + geometry_text(self.kernel, self.stride, self.pad)

    def s8_reference(
        self,
        x: npt.NDArray[np.integer],
        out_shape: tuple[int, int],
        activation: tuple[int, int] = (-128, 127),
    ) -> Int8Array:
        """arm_max_pool_s8 / arm_avgpool_s8 (CMSIS-NN v7.0.0): windows clipped to the
        image; the average divides by the in-bounds count, ties away from zero."""
        return pool_s8(
            x, kernel=self.kernel, stride=self.stride, pad=self.pad, out_shape=out_shape,
            average=self.method is PoolMethod.AVE, activation=activation,
        )  # fmt: skip

    def q7_reference(
        self, x: npt.NDArray[np.integer], variant: AverageVariant = AverageVariant.DSP
    ) -> Int8Array:
        """arm_maxpool_q7_HWC / arm_avepool_q7_HWC on int8 values (padding 0 only: with
        padding the legacy kernels do not compute Caffe's windows).

        MAX: the largest value of each clipped window. AVE, DSP build: for every input row
        and output column, trunc(sum / count) over the columns; then for every output row,
        trunc(sum / count) over the rows of those; C truncation toward zero. AVE, 2-D
        variant: trunc(window sum / count). Computed with PyTorch's pooling on exact
        small integers (float32 window sums) and integer division."""
        if self.pad != (0, 0):
            raise ValueError("the q7 pooling kernels are modelled for pad 0 only")
        from nn2mcu.q7.pooling import average_q7, max_q7

        if self.method is PoolMethod.MAX:
            return max_q7(x, self.kernel, self.stride, self.ceil_mode)
        rows, columns = self.windows(0, x.shape[1]), self.windows(1, x.shape[2])
        return average_q7(
            x,
            self.kernel,
            self.stride,
            [e - s for s, e, _ in rows],
            [e - s for s, e, _ in columns],
            two_passes=variant is AverageVariant.DSP,
            ceil_mode=self.ceil_mode,
        )
