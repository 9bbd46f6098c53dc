"""Batch normalization at inference: y = (x - mean) / sqrt(variance + eps).

Weights "mean" and "variance" hold one value per channel (Caffe's moving-average
factor already divided out). Folded into a preceding convolution or inner product
by ``nn2mcu.passes.fold_batchnorm``; no kernel runs it on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class BatchNorm(ElementwiseOp):
    kind = "batch_norm"
    type_name = "BatchNorm"

    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c
        return {"mean": (channels,), "variance": (channels,)}
