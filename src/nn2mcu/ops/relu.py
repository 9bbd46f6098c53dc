"""ReLU: max(x, 0), element-wise; runs in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import AnyIntArray

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class ReLU(ElementwiseOp):
    kind = "relu"
    type_name = "ReLU"

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        return np.maximum(inputs[0].astype(np.float64), 0.0)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.ReLU()

    def q7_reference(self, x: AnyIntArray) -> AnyIntArray:
        """arm_relu_q7: max(x, 0), in place."""
        return np.maximum(x, 0)
