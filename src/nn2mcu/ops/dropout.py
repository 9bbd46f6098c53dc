"""Dropout: identity at inference (the ratio matters only when training)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.binding import IntArray, Site
from nn2mcu.ir.op import Array, ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _q7, _s8
from nn2mcu.ops.registry import bind, register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Dropout(ElementwiseOp):
    kind = "dropout"
    type_name = "Dropout"

    ratio: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {self.ratio}")

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        return inputs[0].astype(np.float64)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        # Caffe's dropout also scales the kept values by 1 / (1 - ratio) when training.
        return torch.nn.Dropout(p=self.ratio)


class _Identity:
    def moves_no_data(self, site: Site) -> bool:
        return True

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return inputs[0]


@bind
class DropoutQ7(_Identity, _q7.Q7Binding):
    """No call: the identity at inference."""

    op = Dropout


@bind
class DropoutS8(_Identity, _s8.S8Binding):
    """No call: the identity at inference."""

    op = Dropout
