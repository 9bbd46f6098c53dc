"""Element-wise addition of two tensors of one shape (residual shortcuts: Caffe Eltwise SUM,
ONNX Add), no broadcasting; and its bindings.

s8: arm_elementwise_add_s8 (CMSIS-NN v7.0.0) with TensorFlow Lite Micro's parameters: each
input, offset by minus its zero point and shifted left by 20, is requantized to a common
scale, the sum is requantized to the output's scale. q7 refuses it: the legacy API has no
scaled element-wise addition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from nn2mcu.cgen import c_macro
from nn2mcu.errors import InputError
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, Op, ShapeError, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _s8
from nn2mcu.ops.registry import bind, refuse, register
from nn2mcu.s8.arithmetic import quantize_multiplier, requantize, wrap32
from nn2mcu.s8.model import TensorParams

if TYPE_CHECKING:
    import torch

LEFT_SHIFT = 20  # TFLite's left shift of int8 inputs before requantization


@register
@dataclass(frozen=True)
class Add(Op):
    kind = "add"
    type_name = "Add"
    arity = 2

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        if inputs[0] != inputs[1]:
            raise ShapeError(
                f"the inputs must have one shape (no broadcasting), got {inputs[0]} and {inputs[1]}"
            )
        return inputs[0]

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        out: Array = inputs[0].astype(np.float64) + inputs[1].astype(np.float64)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        from nn2mcu.ops._torch_modules import Sum

        return Sum()


def add_s8(
    x1: npt.NDArray[np.integer],
    x2: npt.NDArray[np.integer],
    *,
    input_1_offset: int,
    input_1_mult: int,
    input_1_shift: int,
    input_2_offset: int,
    input_2_mult: int,
    input_2_shift: int,
    left_shift: int,
    out_offset: int,
    out_mult: int,
    out_shift: int,
    activation: tuple[int, int] = (-128, 127),
    single_rounding: bool = False,
) -> npt.NDArray[np.int8]:
    """arm_elementwise_add_s8 (CMSIS-NN v7.0.0), element by element: clamp(requantize(
    requantize((x1 + o1) << left, m1, s1) + requantize((x2 + o2) << left, m2, s2), mo, so)
    + out_offset). (x + o) << left stays within int32 (|x + o| <= 255, left <= 20); the sum
    of two requantized values too (each below 2^29 for shifts <= 0)."""
    if min(input_1_shift, input_2_shift, out_shift) > 0:
        raise ValueError("arm_elementwise_add_s8 takes shifts <= 0")
    a = requantize(
        (np.asarray(x1, dtype=np.int64) + input_1_offset) << left_shift,
        input_1_mult, input_1_shift, single_rounding=single_rounding,
    )  # fmt: skip
    b = requantize(
        (np.asarray(x2, dtype=np.int64) + input_2_offset) << left_shift,
        input_2_mult, input_2_shift, single_rounding=single_rounding,
    )  # fmt: skip
    total = requantize(wrap32(a + b), out_mult, out_shift, single_rounding=single_rounding)
    low, high = activation
    return np.clip(total + out_offset, low, high).astype(np.int8)


@dataclass(frozen=True)
class AddParams:
    """arm_elementwise_add_s8's arguments, derived as TFLite Micro derives them."""

    input_1_offset: int
    input_1_mult: int
    input_1_shift: int
    input_2_offset: int
    input_2_mult: int
    input_2_shift: int
    out_offset: int
    out_mult: int
    out_shift: int


def _smaller_than_one(scale: float, what: str) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp: QuantizeMultiplier, shift <= 0."""
    multiplier, shift = quantize_multiplier(scale)
    if shift > 0:
        raise ValueError(
            f"the {what} scale ratio {scale:.6g} is not below 1 (arm_elementwise_add_s8 takes "
            "shifts <= 0)"
        )
    return multiplier, shift


def add_multipliers(
    scale_1: float, scale_2: float, scale_out: float
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The (multiplier, shift) of each input and of the output as TFLite Micro's
    add_common.cc derives them: twice_max = 2 max(s1, s2) in double; m1 = s1 / twice_max,
    m2 = s2 / twice_max, m_out = twice_max / (2^20 s_out)."""
    twice_max = 2.0 * max(float(scale_1), float(scale_2))
    return (
        _smaller_than_one(float(scale_1) / twice_max, "first input's"),
        _smaller_than_one(float(scale_2) / twice_max, "second input's"),
        _smaller_than_one(twice_max / ((1 << LEFT_SHIFT) * float(scale_out)), "output"),
    )


def add_params(site: Site) -> AddParams:
    """The layer's arguments from its inputs' and output's scales and zero points."""
    model = _s8.model_of(site)
    first, second = (model.tensors[name] for name in site.layer.inputs)
    out = model.tensors[site.name]
    try:
        (m1, s1), (m2, s2), (mo, so) = add_multipliers(first.scale, second.scale, out.scale)
    except ValueError as error:
        raise InputError(f"layer '{site.name}' (Add): {error}") from None
    return AddParams(-first.zero_point, m1, s1, -second.zero_point, m2, s2, out.zero_point, mo, so)


@bind
class AddS8(_s8.S8Binding):
    """arm_elementwise_add_s8 (CMSIS-NN v7.0.0): per element, clamp(requantize(requantize((x1
    + o1) << 20, m1, s1) + requantize((x2 + o2) << 20, m2, s2), m_out, s_out) + zp_out); the
    output's scale and zero point are calibrated like any activation's."""

    op = Add
    functions = ("arm_elementwise_add_s8",)
    fuses_activation: ClassVar[bool] = True
    calibrated: ClassVar[bool] = True

    def tensor_params(self, site: Site, sources: list[TensorParams]) -> TensorParams:
        raise TypeError("an Add's output parameters come from calibration")

    def kernel(self, site: Site) -> Kernel:
        return Kernel("arm_elementwise_add_s8", "element-wise add, TFLite's scaling")

    def _activation(self, site: Site) -> tuple[int, int]:
        return _s8.model_of(site).pool_activation.get(site.name, (_s8.QMIN, _s8.QMAX))

    def output_lead(self, site: Site, index: int) -> int | None:
        """The portable kernel reads element i of both inputs before it writes element i,
        so the output may lie over either input."""
        return 0

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        p = add_params(site)
        return add_s8(
            inputs[0], inputs[1], input_1_offset=p.input_1_offset, input_1_mult=p.input_1_mult,
            input_1_shift=p.input_1_shift, input_2_offset=p.input_2_offset,
            input_2_mult=p.input_2_mult, input_2_shift=p.input_2_shift, left_shift=LEFT_SHIFT,
            out_offset=p.out_offset, out_mult=p.out_mult, out_shift=p.out_shift,
            activation=self._activation(site),
            single_rounding=_s8.model_of(site).single_rounding,
        )  # fmt: skip

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        p = add_params(site)
        low, high = self._activation(site)
        return {
            **_cmsis.image_dims(site), "SIZE": site.output.size,
            "IN1_OFFSET": p.input_1_offset, "IN1_MULT": p.input_1_mult,
            "IN1_SHIFT": p.input_1_shift, "IN2_OFFSET": p.input_2_offset,
            "IN2_MULT": p.input_2_mult, "IN2_SHIFT": p.input_2_shift, "LEFT_SHIFT": LEFT_SHIFT,
            "OUTPUT_OFFSET": p.out_offset, "OUT_MULT": p.out_mult, "OUT_SHIFT": p.out_shift,
            "ACT_MIN": low, "ACT_MAX": high,
        }  # fmt: skip

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        p = c_macro(site.name)
        first, second = (_s8.arena(name) for name in call.inputs)
        return [
            CStatement(
                f"{call.kernel.name}({first}, {second}, {p}_IN1_OFFSET, {p}_IN1_MULT, "
                f"{p}_IN1_SHIFT, {p}_IN2_OFFSET, {p}_IN2_MULT, {p}_IN2_SHIFT, {p}_LEFT_SHIFT, "
                f"{_s8.arena(call.output)}, {p}_OUTPUT_OFFSET, {p}_OUT_MULT, {p}_OUT_SHIFT, "
                f"{p}_ACT_MIN, {p}_ACT_MAX, {p}_SIZE)",
                checked=True,
            )
        ]


refuse(
    Add,
    "q7",
    "the legacy CMSIS-NN q7 API has no scaled element-wise addition (its inputs would need "
    "one format); use --scheme s8",
)
