"""Flatten: an H x W x C tensor becomes the vector 1 x 1 x (H*W*C), in HWC order.

In HWC memory this moves no data, so it runs in place. Front ends whose flatten
order is CHW (Caffe, ONNX) permute the columns of the inner product that reads
the vector instead (see ``Graph.flatten_source``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class Flatten(Op):
    kind = "flatten"
    type_name = "Flatten"
    in_place = True

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return Shape.vector(inputs[0].size)
