"""Dropout: identity at inference (the ratio matters only when training)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class Dropout(Op):
    kind = "dropout"
    type_name = "Dropout"
    in_place = True

    ratio: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {self.ratio}")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]
