"""Network input (Caffe Data/Input layers, ONNX graph inputs).

Carries the input shape and the float preprocessing the network was trained with:
x = (pixel - mean) * scale, where the mean comes from a mean file (per pixel) or
from per-channel mean values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


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
