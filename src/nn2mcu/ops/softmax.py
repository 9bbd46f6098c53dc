"""Softmax over the channels of each position (over the vector for 1 x 1 x N), and its
bindings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.cgen import c_macro
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _q7, _s8
from nn2mcu.ops.registry import bind, register
from nn2mcu.q7.arithmetic import ssat8
from nn2mcu.q7.model import SOFTMAX_FRAC, SoftmaxVersion
from nn2mcu.s8.model import TensorParams
from nn2mcu.s8.softmax import softmax_params, softmax_s8

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Softmax(Op):
    kind = "softmax"
    type_name = "Softmax"
    classifier_head = True

    beta: float = 1.0  # exp(beta * x) (TFLite's SOFTMAX option)

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64) * self.beta
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        out: Array = e / e.sum(axis=-1, keepdims=True)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.Softmax(dim=1)


def softmax_q7(x: IntArray, version: SoftmaxVersion = SoftmaxVersion.V2019) -> IntArray:
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


def _uint16_length(site: Site) -> bool | str:
    """arm_softmax_q7 takes a uint16 length: at most 65,535 elements"""
    return site.output.size <= _q7.UINT16_MAX or f"{site.output.size} elements"


def _beta_one(site: Site) -> bool | str:
    """arm_softmax_q7 computes exp(x) (beta 1)"""
    return site.op.beta == 1.0 or f"beta {site.op.beta}"


@bind
class SoftmaxQ7(_q7.Q7Binding):
    """arm_softmax_q7 (the formula of the model's softmax version), output Q0.7."""

    op = Softmax
    functions = ("arm_softmax_q7",)
    constraints = (_uint16_length, _beta_one)

    def output_frac(self, input_fracs: list[int], chosen: int | None) -> int:
        return SOFTMAX_FRAC

    def kernel(self, site: Site) -> Kernel:
        return Kernel("arm_softmax_q7", "softmax (second output)")

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return softmax_q7(inputs[0], _q7.model_of(site).softmax_version)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return _cmsis.image_dims(site)

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        src, dst = _q7.arena(call.input), _q7.arena(call.output)
        return [CStatement(f"{call.kernel.name}({src}, {site.output.size}, {dst});")]


@bind
class SoftmaxS8(_s8.S8Binding):
    """arm_softmax_s8 (CMSIS-NN v7.0.0) over the channels, with TFLite's parameters for the
    input scale and beta; the output has scale 1/256 and zero point -128."""

    op = Softmax
    functions = ("arm_softmax_s8",)

    def tensor_params(self, site: Site, sources: list[TensorParams]) -> TensorParams:
        return TensorParams(1 / 256, -128)  # TFLite's softmax output

    def kernel(self, site: Site) -> Kernel:
        return Kernel("arm_softmax_s8", "softmax (second output)")

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        multiplier, shift, diff_min = softmax_params(_s8.source_params(site).scale, site.op.beta)
        return softmax_s8(inputs[0], multiplier, shift, diff_min)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        multiplier, shift, diff_min = softmax_params(_s8.source_params(site).scale, site.op.beta)
        return {
            **_cmsis.image_dims(site), "SIZE": site.output.size, "MULT": multiplier,
            "SHIFT": shift, "DIFF_MIN": diff_min,
        }  # fmt: skip

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        p = c_macro(site.name)
        return [
            CStatement(
                f"{call.kernel.name}({_s8.arena(call.input)}, 1, {p}_SIZE, {p}_MULT, {p}_SHIFT, "
                f"{p}_DIFF_MIN, {_s8.arena(call.output)});"
            )
        ]
