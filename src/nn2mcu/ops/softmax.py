"""Softmax over the channels of each position (over the vector for 1 x 1 x N)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class Softmax(Op):
    kind = "softmax"
    type_name = "Softmax"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]
