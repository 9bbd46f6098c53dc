"""Inner product (fully connected): out[n] = sum_k weight[n, k] * x[k] + bias[n].

The input is read as a vector in HWC order, whatever its shape; weight is (N, K)
with K = H*W*C of the input. NCHW frameworks flatten in CHW order, so their weight
columns are permuted on the way in and out (``nchw_weights``/``ir_weights``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import AnyIntArray, Int8Array, IntArray
from nn2mcu.q7.matmul import fully_connected_q7
from nn2mcu.s8.kernels import fully_connected_s8

if TYPE_CHECKING:
    import torch


def chw_to_hwc_columns(weight: Array, source: Shape) -> Array:
    """Reorder the columns of an (N, C*H*W) matrix to HWC order."""
    n = weight.shape[0]
    return (
        weight.reshape(n, source.c, source.h, source.w)
        .transpose(0, 2, 3, 1)
        .reshape(n, source.size)
    )


def hwc_to_chw_columns(weight: Array, source: Shape) -> Array:
    """Reorder the columns of an (N, H*W*C) matrix to CHW order."""
    n = weight.shape[0]
    return (
        weight.reshape(n, source.h, source.w, source.c)
        .transpose(0, 3, 1, 2)
        .reshape(n, source.size)
    )


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

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64)
        out = x.reshape(x.shape[0], -1) @ weights["weight"].astype(np.float64).T
        if self.bias:
            out = out + weights["bias"].astype(np.float64)
        return out.reshape(x.shape[0], 1, 1, -1)

    def nchw_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": hwc_to_chw_columns(weights["weight"], source)}

    def ir_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        return {**weights, "weight": chw_to_hwc_columns(weights["weight"], source)}

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        from nn2mcu.ops._torch_modules import InnerProduct

        return InnerProduct(inputs[0].size, self.out_features, bias=self.bias)

    def s8_reference(
        self,
        x: AnyIntArray,
        weight: IntArray,
        bias: IntArray | None,
        *,
        input_offset: int,
        output_offset: int,
        multiplier: IntArray,
        shift: IntArray,
        activation: tuple[int, int] = (-128, 127),
        single_rounding: bool = False,
    ) -> Int8Array:
        """arm_fully_connected_s8 (one multiplier) or arm_fully_connected_per_channel_s8
        (CMSIS-NN v7.0.0) on N x 1 x 1 x K (or any N x ...) inputs; N x 1 x 1 x rows out."""
        out = fully_connected_s8(
            x, weight, bias, input_offset=input_offset, output_offset=output_offset,
            multiplier=multiplier, shift=shift, activation=activation,
            single_rounding=single_rounding,
        )  # fmt: skip
        return out.reshape(len(out), 1, 1, -1)

    def q7_reference(
        self, x: AnyIntArray, weight: IntArray, bias: IntArray, *, bias_shift: int, out_shift: int
    ) -> Int8Array:
        """arm_fully_connected_q7 and _q7_opt (same results; _opt reads the weights in the
        x4 interleave, see ``x4_interleave``): the convolution's arithmetic on the input
        read as a vector in HWC order. Returns (N, 1, 1, out_features)."""
        out = fully_connected_q7(
            x.reshape(x.shape[0], -1),
            weight,
            bias if self.bias else None,
            bias_shift=bias_shift,
            out_shift=out_shift,
        )
        return out.reshape(x.shape[0], 1, 1, -1)


def x4_interleave(weight: IntArray) -> IntArray:
    """The weight order arm_fully_connected_q7_opt reads (CMSIS-NN's doc comment).

    Per block of 4 rows r0..r3, per group of 4 columns c..c+3, the 16 values
    r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3,
    then per leftover column j: r0j r1j r2j r3j; leftover rows follow row-major.
    """
    rows, columns = weight.shape
    order = (
        (0, 0), (1, 0), (0, 2), (1, 2), (2, 0), (3, 0), (2, 2), (3, 2),
        (0, 1), (1, 1), (0, 3), (1, 3), (2, 1), (3, 1), (2, 3), (3, 3),
    )  # fmt: skip
    out: list[int] = []
    for r in range(0, rows - rows % 4, 4):
        for c in range(0, columns - columns % 4, 4):
            out.extend(int(weight[r + dr, c + dc]) for dr, dc in order)
        for j in range(columns - columns % 4, columns):
            out.extend(int(weight[r + dr, j]) for dr in range(4))
    out.extend(int(v) for v in weight[rows - rows % 4 :].ravel())
    return np.asarray(out, dtype=np.int64)
