"""ReLU: max(x, 0), element-wise; runs in place."""

from __future__ import annotations

from dataclasses import dataclass

from nn2mcu.ir.op import ElementwiseOp
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class ReLU(ElementwiseOp):
    kind = "relu"
    type_name = "ReLU"
