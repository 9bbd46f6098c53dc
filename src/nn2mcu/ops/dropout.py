"""Dropout: identity at inference (the ratio matters only when training)."""

from __future__ import annotations

from dataclasses import dataclass

from nn2mcu.ir.op import ElementwiseOp
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class Dropout(ElementwiseOp):
    kind = "dropout"
    type_name = "Dropout"

    ratio: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {self.ratio}")
