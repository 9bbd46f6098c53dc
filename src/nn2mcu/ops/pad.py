"""Zero padding of the spatial axes (ONNX Pad, constant 0; PyTorch ZeroPad2d): (top, left,
bottom, right). No kernel runs it: passes.fold_pad folds it into the padding of the
convolution or max pooling after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops._window import Pad as Padding
from nn2mcu.ops._window import check_pad, pad_nhwc, torch_padding
from nn2mcu.ops.registry import SCHEME_NAMES, refuse, register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Pad(Op):
    kind = "pad"
    type_name = "Pad"

    pad: Padding

    def __post_init__(self) -> None:
        check_pad(self.pad)

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        top, left, bottom, right = self.pad
        x = inputs[0]
        return Shape(x.h + top + bottom, x.w + left + right, x.c)

    def geometry(self) -> str:
        return "pad " + ",".join(map(str, self.pad))

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        out: Array = np.asarray(pad_nhwc(inputs[0], self.pad, 0.0), dtype=np.float64)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.ZeroPad2d(torch_padding(self.pad))


for _scheme in SCHEME_NAMES:
    refuse(
        Pad,
        _scheme,
        "it must be folded into the padding of the convolution or max pooling after it "
        "(passes.fold_pad folds it at import)",
    )
