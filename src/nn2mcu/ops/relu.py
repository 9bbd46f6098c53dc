"""ReLU: max(x, 0), element-wise; runs in place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class ReLU(Op):
    kind = "relu"
    type_name = "ReLU"
    in_place = True

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]
