"""Softmax over the channels of each position (over the vector for 1 x 1 x N)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Softmax(Op):
    kind = "softmax"
    type_name = "Softmax"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        out: Array = e / e.sum(axis=-1, keepdims=True)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.Softmax(dim=1)
