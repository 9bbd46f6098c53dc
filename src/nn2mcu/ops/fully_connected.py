"""Inner product (fully connected): out[n] = sum_k weight[n, k] * x[k] + bias[n].

The input is read as a vector in HWC order, whatever its shape; weight is (N, K)
with K = H*W*C of the input. Front ends that flatten in CHW order permute the
weight columns on import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nn2mcu.ir.op import Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register


@register
@dataclass(frozen=True)
class FullyConnected(Op):
    kind = "fully_connected"
    type_name = "InnerProduct"

    out_features: int
    bias: bool = True

    def __post_init__(self) -> None:
        if self.out_features < 1:
            raise ValueError(f"out_features must be >= 1, got {self.out_features}")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return Shape.vector(self.out_features)

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"weight": (self.out_features, inputs[0].size)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return self.out_features * inputs[0].size
