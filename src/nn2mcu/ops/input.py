"""Network input (Caffe Data/Input layers, ONNX graph inputs).

Carries the input shape and the float preprocessing the network was trained with:
x = (pixel - mean) * scale, where the mean comes from a mean file (per pixel) or
from per-channel mean values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.errors import InputError
from nn2mcu.ir.graph import Graph
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Preprocessing:
    mean_file: str | None = None
    mean_values: tuple[float, ...] = ()
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.mean_file is not None and self.mean_values:
            raise ValueError("give a mean file or mean values, not both")


@register
@dataclass(frozen=True)
class Input(Op):
    kind = "input"
    type_name = "Input"
    arity = 0

    shape: Shape
    preprocessing: Preprocessing = Preprocessing()

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return self.shape

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        """The network input as given (already preprocessed), NHWC."""
        return inputs[0].astype(np.float64)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.Identity()


def input_of(graph: Graph) -> Input:
    """The network's one input operator (with its shape and preprocessing)."""
    op = graph.layer(graph.input_name).op
    if not isinstance(op, Input):
        raise InputError(f"layer '{graph.input_name}' is not an input")
    return op
