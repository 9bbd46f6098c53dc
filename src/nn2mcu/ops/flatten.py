"""Flatten: an H x W x C tensor becomes the vector 1 x 1 x (H*W*C), in HWC order.

In HWC memory this moves no data, so it runs in place. Front ends whose flatten
order is CHW (Caffe, ONNX) permute the columns of the inner product that reads
the vector instead (see ``Graph.flatten_source``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.binding import IntArray, Site
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _q7, _s8
from nn2mcu.ops.registry import bind, register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Flatten(Op):
    kind = "flatten"
    type_name = "Flatten"
    in_place = True

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return Shape.vector(inputs[0].size)

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64)
        return x.reshape(x.shape[0], 1, 1, -1)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        from nn2mcu.ops._torch_modules import FlattenToVector

        return FlattenToVector()


class _Reshape:
    """No call: the vector is its input's bytes in HWC order."""

    def moves_no_data(self, site: Site) -> bool:
        return True

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        x = inputs[0]
        return x.reshape(len(x), 1, 1, -1)


@bind
class FlattenQ7(_Reshape, _q7.Q7Binding):
    """No call: the vector is its input's bytes in HWC order."""

    op = Flatten


@bind
class FlattenS8(_Reshape, _s8.S8Binding):
    """No call: the vector is its input's bytes in HWC order."""

    op = Flatten
