"""What the s8 bindings share: their base class, and the C text of CMSIS-NN's s8 API
(cmsis_nn_* structs, int8/int32 arrays)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from nn2mcu.cgen import c_array, c_macro, c_name
from nn2mcu.ir.binding import Binding, Call, Site
from nn2mcu.ops._cmsis import image_dims, window_dims
from nn2mcu.s8.model import S8Model, TensorParams

QMIN, QMAX = -128, 127


class S8Binding(Binding):
    """A binding of the s8 scheme. ``tensor_params`` gives the output's scale and zero
    point (for a layer that is not ``calibrated``); ``fuses_activation`` says whether an
    activation right after the layer becomes its activation range; ``clamp`` is what an
    activation clamps to (None: no clamp)."""

    scheme: ClassVar[str] = "s8"
    fuses_activation: ClassVar[bool] = False
    # True when the output's scale and zero point come from calibrating it, as a weighted
    # layer's do (an Add's sum), not from the inputs'
    calibrated: ClassVar[bool] = False

    def tensor_params(self, site: Site, sources: list[TensorParams]) -> TensorParams:
        """The output's parameters: the first input's, unless the layer sets its own."""
        return sources[0]

    def clamp(self) -> tuple[bool, float | None] | None:
        """For an activation: (True, upper end or None for no upper end); else None."""
        return None


def model_of(site: Site) -> S8Model:
    if not isinstance(site.model, S8Model):
        raise TypeError(f"layer '{site.name}': an s8 model was expected")
    return site.model


def source_params(site: Site) -> TensorParams:
    return model_of(site).tensors[site.layer.inputs[0]]


def input_offset(site: Site) -> int:
    """The input offset of a weighted layer: minus its input's zero point."""
    return -int(source_params(site).zero_point)


def weighted_defines(site: Site) -> dict[str, int]:
    model = model_of(site)
    q = model.weighted[site.name]
    return {
        "INPUT_OFFSET": input_offset(site),
        "OUTPUT_OFFSET": model.tensors[site.name].zero_point,
        "ACT_MIN": q.activation[0],
        "ACT_MAX": q.activation[1],
    }


def convolution_defines(site: Site, call: Call, scratch: int) -> dict[str, int]:
    """A convolution's or depthwise convolution's #defines: dimensions, window, offsets,
    activation range and scratch size."""
    return {
        **image_dims(site), **window_dims(site), **weighted_defines(site),
        **scratch_define(call, scratch),
    }  # fmt: skip


def scratch_define(call: Call, size: int) -> dict[str, int]:
    return {"SCRATCH_SIZE": size} if call.scratch is not None else {}


def arena(buffer: str) -> str:
    return f"nn_arena + {c_macro(buffer)}_OFFSET"


def dims(name: str, n: str, h: str, w: str, c: str) -> str:
    return f"static const cmsis_nn_dims {name} = {{.n = {n}, .h = {h}, .w = {w}, .c = {c}}};"


def context(call: Call, name: str) -> str:
    if call.scratch is None:
        return f"static const cmsis_nn_context {name}_ctx = {{.buf = NULL, .size = 0}};"
    p = c_macro(call.layer.name)
    return (
        f"static const cmsis_nn_context {name}_ctx = "
        f"{{.buf = {arena(call.scratch)}, .size = {p}_SCRATCH_SIZE}};"
    )


def activation(p: str) -> str:
    return f"{{.min = {p}_ACT_MIN, .max = {p}_ACT_MAX}}"


def tiles(p: str) -> str:
    return (
        f".stride = {{.w = {p}_STRIDE_X, .h = {p}_STRIDE_Y}}, "
        f".padding = {{.w = {p}_PAD_X, .h = {p}_PAD_Y}}"
    )


def quant(name: str) -> str:
    """The per-channel quantization struct. CMSIS-NN's API types the arrays ``int32_t *``;
    the kernels only read them, and they stay const in flash: the cast goes by way of
    uintptr_t, so that no compiler (clang's -Wcast-qual) sees a const dropped."""
    return (
        f"static const cmsis_nn_per_channel_quant_params {name}_quant = "
        f"{{.multiplier = (int32_t *)(uintptr_t){name}_multiplier, "
        f".shift = (int32_t *)(uintptr_t){name}_shift}};"
    )


def image_structs(call: Call) -> list[str]:
    """The context and the input and output dims of a call on images."""
    name, p = c_name(call.layer.name), c_macro(call.layer.name)
    return [
        context(call, name),
        dims(f"{name}_input_dims", "1", f"{p}_IN_Y", f"{p}_IN_X", f"{p}_IN_CH"),
        dims(f"{name}_output_dims", "1", f"{p}_OUT_Y", f"{p}_OUT_X", f"{p}_OUT_CH"),
    ]


def offsets(p: str, *, folded: bool = False) -> str:
    """The offsets of a params struct; ``folded``: the input offset is in the bias
    (:func:`folded_bias`), so the kernel gets 0."""
    source = "0" if folded else f"{p}_INPUT_OFFSET"
    return f".input_offset = {source}, .output_offset = {p}_OUTPUT_OFFSET"


def folded_note(site: Site) -> str:
    """The comment above a params struct whose input offset is in the bias."""
    return (
        f"/* the input offset {c_macro(site.name)}_INPUT_OFFSET is in {c_name(site.name)}_bias */"
    )


def _passer(kernel: str) -> str:
    return "nn_" + kernel.removeprefix("arm_")


def weighted_helper(call: Call, params_type: str) -> str:
    """nn.c's struct of one weighted s8 function's eleven arguments (its parameters of
    params_type) and the function that passes them on: each layer's arguments are then
    const data, and its call site passes one pointer (the code of a call site is most of
    nn_run's)."""
    kernel = call.kernel.name
    passer = _passer(kernel)
    return (
        "typedef struct {\n"
        "    const cmsis_nn_context *ctx;\n"
        f"    const {params_type} *params;\n"
        "    const cmsis_nn_per_channel_quant_params *quant;\n"
        "    const cmsis_nn_dims *input_dims;\n"
        "    const int8_t *input;\n"
        "    const cmsis_nn_dims *filter_dims;\n"
        "    const int8_t *filter;\n"
        "    const cmsis_nn_dims *bias_dims;\n"
        "    const int32_t *bias;\n"
        "    const cmsis_nn_dims *output_dims;\n"
        "    int8_t *output;\n"
        f"}} {passer}_args;\n\n"
        f"static arm_cmsis_nn_status {passer}(const {passer}_args *a)\n"
        "{\n"
        f"    return {kernel}(a->ctx, a->params, a->quant, a->input_dims, a->input, "
        "a->filter_dims, a->filter, a->bias_dims,\n"
        f"    {' ' * (len(kernel) + 8)}a->bias, a->output_dims, a->output);\n"
        "}\n\n"
    )


def weighted_args(call: Call) -> str:
    """The const arguments of a convolution's, depthwise convolution's or inner product's
    call (weighted_helper's struct)."""
    name = c_name(call.layer.name)
    return (
        f"static const {_passer(call.kernel.name)}_args {name}_args = {{&{name}_ctx, "
        f"&{name}_params, &{name}_quant, &{name}_input_dims, {arena(call.input)}, "
        f"&{name}_filter_dims, {name}_wt, &{name}_bias_dims, {name}_bias, &{name}_output_dims, "
        f"{arena(call.output)}}};"
    )


def weighted_call(call: Call) -> str:
    """The call of a convolution, depthwise convolution or fully-connected s8 function,
    through weighted_helper's function."""
    return f"{_passer(call.kernel.name)}(&{c_name(call.layer.name)}_args)"


def folded_bias(site: Site) -> np.ndarray:
    """Each output's bias plus input_offset times the sum of its weights, modulo 2^32: with
    it the kernel takes input offset 0 and computes the same sums modulo 2^32 (every tap
    of the window must lie on the input: no padding)."""
    q = model_of(site).weighted[site.name]
    offset = input_offset(site)
    sums = q.weight.reshape(len(q.weight), -1).astype(np.int64).sum(axis=1)
    folded = (q.bias.astype(np.int64) + offset * sums) & 0xFFFFFFFF
    wrapped: np.ndarray = np.where(folded >= 1 << 31, folded - (1 << 32), folded)
    return wrapped.astype(np.int64)


def weight_arrays(
    site: Site, ident: str, note: str, *, fold_offset: bool = False,
    order: Callable[[np.ndarray], np.ndarray] | None = None,
) -> str:  # fmt: skip
    """A layer's int8 weights (reordered by ``order``, when given) and its int32 bias,
    multipliers and shifts; with ``fold_offset`` the bias has the input offset folded in
    (:func:`folded_bias`)."""
    q = model_of(site).weighted[site.name]
    bias, folded = (folded_bias(site), " (input offset folded in)") if fold_offset else (q.bias, "")
    weight = q.weight if order is None else order(q.weight)
    return (
        f"/* {site.name}: int8 weights {note}, per output channel int32 bias{folded}, "
        "multiplier and shift */\n"
        + c_array("int8_t", f"{ident}_wt", weight)
        + c_array("int32_t", f"{ident}_bias", bias)
        + c_array("int32_t", f"{ident}_multiplier", q.multiplier)
        + c_array("int32_t", f"{ident}_shift", q.shift)
        + "\n"
    )
