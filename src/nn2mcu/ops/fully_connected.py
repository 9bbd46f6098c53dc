"""Inner product (fully connected): out[n] = sum_k weight[n, k] * x[k] + bias[n], and its
bindings.

The input is read as a vector in HWC order, whatever its shape; weight is (N, K)
with K = H*W*C of the input. NCHW frameworks flatten in CHW order, so their weight
columns are permuted on the way in and out (``nchw_weights``/``ir_weights``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nn2mcu.cgen import c_macro, c_name
from nn2mcu.ir.binding import Call, CStatement, Kernel, Site
from nn2mcu.ir.binding import IntArray as AnyIntArray
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _q7, _s8
from nn2mcu.ops.registry import bind, register
from nn2mcu.q7.arithmetic import IntArray
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


# nn2mcu's own inner product, which only the portable kernels define
PORTABLE_FC = "nn2mcu_fully_connected_s8"


def four_row_blocks(weight: IntArray) -> IntArray:
    """The weight order nn2mcu_fully_connected_s8 reads (its comment in the portable
    kernels' arm_nnfunctions.h), flattened.

    Per block of four rows, per group of four columns c..c+3, the rows' four values one row
    after the other; then per leftover column j (columns % 4), the four rows' values; the
    rows % 4 rows after the last block follow row-major. The same values, reordered.
    """
    rows, columns = weight.shape
    count, grouped = rows // 4, columns - columns % 4
    blocks = weight[: 4 * count].reshape(count, 4, columns)
    groups = blocks[:, :, :grouped].reshape(count, 4, grouped // 4, 4).transpose(0, 2, 1, 3)
    left = blocks[:, :, grouped:].transpose(0, 2, 1)  # per leftover column, the four rows
    per_block = np.concatenate(
        [groups.reshape(count, 4 * grouped), left.reshape(count, 4 * (columns - grouped))], axis=1
    )
    return np.concatenate([per_block.ravel(), weight[4 * count :].ravel()])


def one_rounding(multiplier: IntArray, shift: IntArray) -> bool:
    """Whether every output's multiplier and shift let the portable kernels requantize in
    one rounding (nn2mcu_fast_channels in nn2mcu_s8_arith.h: multiplier >= 0, shift from
    -31 to -2), with the same results."""
    return bool(np.all(multiplier >= 0) and np.all((shift >= -31) & (shift <= -2)))


def _fast(site: Site) -> bool:
    """nn2mcu_fully_connected_s8's ``fast``: the double rounding, every row in one."""
    model = _s8.model_of(site)
    q = model.weighted[site.name]
    return not model.single_rounding and one_rounding(q.multiplier, q.shift)


def _own(call: Call) -> bool:
    """Whether the call is nn2mcu's own inner product (the portable kernels' plan)."""
    return call.kernel.name == PORTABLE_FC


def _dims(site: Site) -> dict[str, int]:
    return {"DIM_VEC": site.x.size, "OUT_DIM": site.op.out_features}


@bind
class FullyConnectedQ7(_q7.Q7Binding):
    """arm_fully_connected_q7_opt (the results of arm_fully_connected_q7; it reads the
    weights in the x4 interleave): the convolution's arithmetic on the input read as a
    vector in HWC order."""

    op = FullyConnected
    functions = ("arm_fully_connected_q7_opt",)
    constraints = (_q7.uint16_vector,)

    def kernel(self, site: Site) -> Kernel:
        return Kernel("arm_fully_connected_q7_opt", "inner product (x4-interleaved weights)")

    def scratch(self, site: Site) -> int:
        return 2 * site.x.size

    def simulate(self, site: Site, inputs: tuple[AnyIntArray, ...]) -> AnyIntArray:
        x = inputs[0]
        q = _q7.model_of(site).weighted[site.name]
        out = fully_connected_q7(
            x.reshape(x.shape[0], -1), q.weight, q.bias if site.op.bias else None,
            bias_shift=q.shifts.bias_shift, out_shift=q.shifts.out_shift,
        )  # fmt: skip
        return out.reshape(x.shape[0], 1, 1, -1)

    def c_weights(self, site: Site, call: Call) -> str:
        weight = x4_interleave(_q7.model_of(site).weighted[site.name].weight)
        return _q7.weight_arrays(
            site, c_name(site.name), weight, "x4-interleaved rows (arm_fully_connected_q7_opt)"
        )

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return {**_cmsis.image_dims(site), **_dims(site), **_q7.shift_dims(site)}

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        name, p = c_name(site.name), c_macro(site.name)
        args = (
            f"{_q7.arena(call.input)}, {name}_wt, {p}_DIM_VEC, {p}_OUT_DIM, {p}_BIAS_LSHIFT, "
            f"{p}_OUT_RSHIFT, {name}_bias, {_q7.arena(call.output)}, "
            f"{_q7.scratch_pointer(call, 'q15_t')}"
        )
        return [CStatement(f"{call.kernel.name}({args})", checked=True)]


@bind
class FullyConnectedS8(_s8.S8Binding):
    """arm_fully_connected_per_channel_s8 (CMSIS-NN v7.0.0): per row, clamp(requantize(bias
    + sum (x + input_offset) * w) + output_offset), the input read as a vector. The C is
    given the bias with input_offset * sum(w) added (modulo 2^32) and input offset 0: the
    same sums. With the portable kernels the call is nn2mcu_fully_connected_s8, which reads
    the weights in four-row blocks (:func:`four_row_blocks`)."""

    op = FullyConnected
    functions = ("arm_fully_connected_per_channel_s8", PORTABLE_FC)
    fuses_activation = True

    def kernel(self, site: Site) -> Kernel:
        return Kernel(
            "arm_fully_connected_per_channel_s8",
            "inner product, per-channel scales; the input offset folded into the bias",
        )

    def portable_function(self, site: Site) -> str | None:
        return PORTABLE_FC

    def portable_reason(self, site: Site) -> str | None:
        if _s8.model_of(site).single_rounding:
            rounding = "single-rounding requantization (CMSIS_NN_USE_SINGLE_ROUNDING)"
        elif _fast(site):
            rounding = "both roundings of the requantization in one"
        else:
            rounding = "two-rounding requantization (a scale of 1/4 or more)"
        return (
            "portable: four rows at a time, their weights side by side in four-row blocks, "
            f"each input word unpacked once for the four; per-channel scales, {rounding}; "
            "the input offset folded into the bias"
        )

    def simulate(self, site: Site, inputs: tuple[AnyIntArray, ...]) -> AnyIntArray:
        model = _s8.model_of(site)
        q = model.weighted[site.name]
        out = fully_connected_s8(
            inputs[0], q.weight, q.bias, input_offset=_s8.input_offset(site),
            output_offset=model.tensors[site.name].zero_point, multiplier=q.multiplier,
            shift=q.shift, activation=q.activation, single_rounding=model.single_rounding,
        )  # fmt: skip
        return out.reshape(len(out), 1, 1, -1)

    def c_weights(self, site: Site, call: Call) -> str:
        note, order = (
            (f"in four-row blocks ({PORTABLE_FC})", four_row_blocks)
            if _own(call)
            else ("[out][in]", None)
        )
        return _s8.weight_arrays(site, c_name(site.name), note, fold_offset=True, order=order)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return {**_cmsis.image_dims(site), **_dims(site), **_s8.weighted_defines(site)}

    def c_structs(self, site: Site, call: Call) -> list[str]:
        name, p = c_name(site.name), c_macro(site.name)
        if _own(call):
            fast = int(_fast(site))
            return [
                _s8.folded_note(site),
                f"static const nn2mcu_fc_s8_args {name}_args = {{"
                f".input = {_s8.arena(call.input)}, .output = {_s8.arena(call.output)}, "
                f".weights = {name}_wt, .bias = {name}_bias, .multiplier = {name}_multiplier, "
                f".shift = {name}_shift, .depth = {p}_DIM_VEC, .rows = {p}_OUT_DIM, "
                f".output_offset = {p}_OUTPUT_OFFSET, .act_min = {p}_ACT_MIN, "
                f".act_max = {p}_ACT_MAX, .fast = {fast}}};",
            ]
        return [
            _s8.context(call, name),
            _s8.dims(f"{name}_input_dims", "1", "1", "1", f"{p}_DIM_VEC"),
            _s8.dims(f"{name}_output_dims", "1", "1", "1", f"{p}_OUT_DIM"),
            _s8.folded_note(site),
            f"static const cmsis_nn_fc_params {name}_params = {{{_s8.offsets(p, folded=True)}, "
            f".filter_offset = 0, .activation = {_s8.activation(p)}}};",
            _s8.quant(name),
            _s8.dims(f"{name}_filter_dims", f"{p}_DIM_VEC", "1", "1", f"{p}_OUT_DIM"),
            _s8.dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_DIM"),
            _s8.weighted_args(call),
        ]

    def c_helper(self, site: Site, call: Call) -> str:
        return "" if _own(call) else _s8.weighted_helper(call, "cmsis_nn_fc_params")

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        if _own(call):
            return [CStatement(f"{PORTABLE_FC}(&{c_name(site.name)}_args)", checked=True)]
        return [CStatement(_s8.weighted_call(call), checked=True)]
