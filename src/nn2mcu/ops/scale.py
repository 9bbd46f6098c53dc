"""Per-channel scale and optional bias: y = x * scale[c] (+ bias[c]).

Folded into a preceding convolution or inner product (usually together with a
BatchNorm) by ``nn2mcu.passes.fold_batchnorm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class Scale(ElementwiseOp):
    kind = "scale"
    type_name = "Scale"

    bias: bool = False

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c
        shapes: dict[str, tuple[int, ...]] = {"scale": (channels,)}
        if self.bias:
            shapes["bias"] = (channels,)
        return shapes
