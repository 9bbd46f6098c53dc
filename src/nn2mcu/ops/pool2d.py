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
from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, ShapeError, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pair, check_window, geometry_text
from nn2mcu.ops.registry import register


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
        padded = self.pad != (0, 0)
        sizes = []
        for size, kernel, stride, pad in zip(
            (x.h, x.w), self.kernel, self.stride, self.pad, strict=True
        ):
            out = pool_output_size(size, kernel, stride, pad, ceil_mode=self.ceil_mode)
            if padded and (out - 1) * stride >= size + pad:
                out -= 1
            sizes.append(out)
        return Shape(sizes[0], sizes[1], x.c)

    def geometry(self) -> str:
        return f"{self.method.value} " + geometry_text(self.kernel, self.stride, self.pad)
