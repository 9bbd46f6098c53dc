"""Softmax over the channels of each position (over the vector for 1 x 1 x N)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import register
from nn2mcu.q7.arithmetic import AnyIntArray, IntArray, ssat8
from nn2mcu.s8.softmax import softmax_s8

if TYPE_CHECKING:
    import torch


class SoftmaxVersion(enum.Enum):
    """arm_softmax_q7's three historical formulas (CMSIS-NN Source/SoftmaxFunctions)."""

    V2019 = "2019"  # 2019-08 onwards; the one in CMSIS 5.9.0, the last legacy release
    V2018 = "2018"  # 2018-02 to 2019-08 (the era of the ML-examples workflow)
    V2017 = "2017"  # the first release


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

    def s8_reference(
        self, x: AnyIntArray, multiplier: int, shift: int, diff_min: int
    ) -> npt.NDArray[np.int8]:
        """arm_softmax_s8 (CMSIS-NN v7.0.0) over the channels (last axis); the parameters
        from nn2mcu.s8.softmax.softmax_params."""
        return softmax_s8(x, multiplier, shift, diff_min)

    def q7_reference(
        self, x: AnyIntArray, version: SoftmaxVersion = SoftmaxVersion.V2019
    ) -> IntArray:
        """arm_softmax_q7 over the channels (last axis): a base-2 softmax with Q0.7 output.

        V2019: m = max, e_i = clamp(x_i - m + 8, 0, 7), ob = 2**20 // sum(2**e_i),
        out_i = SSAT8(ob >> min(5 + m - x_i, 31)).
        V2018: base = m - 8; over x_i > base: ob = 2**20 // sum(2**(x_i - base)),
        out_i = SSAT8(ob >> (13 + base - x_i)); 0 for x_i <= base.
        V2017: low = max(min, m - 8); out_i = SSAT8((2**(x_i - low + 20) // sum(2**(x_j - low)))
        >> 13); elements below ``low`` (a negative shift in C, undefined) count as 0."""
        values = np.asarray(x, dtype=np.int64)
        m = values.max(axis=-1, keepdims=True)
        if version is SoftmaxVersion.V2019:
            exponents = np.clip(values - m + 8, 0, 7)
            ob = (1 << 20) // (np.int64(1) << exponents).sum(axis=-1, keepdims=True)
            return ssat8(ob >> np.minimum(5 + m - values, 31))
        if version is SoftmaxVersion.V2018:
            base = m - 8
            above = values > base
            powers = np.where(above, np.int64(1) << np.where(above, values - base, 0), 0)
            ob = (1 << 20) // powers.sum(axis=-1, keepdims=True)
            shifts = np.where(above, 13 + base - values, 0)
            return np.where(above, ssat8(ob >> shifts), 0)
        low = np.maximum(values.min(axis=-1, keepdims=True), m - 8)
        counted = values >= low
        offsets = np.where(counted, values - low, 0)
        total = np.where(counted, np.int64(1) << offsets, 0).sum(axis=-1, keepdims=True)
        quotient = (np.int64(1) << (offsets + 20)) // total
        return np.where(counted, ssat8(quotient >> 13), 0)
