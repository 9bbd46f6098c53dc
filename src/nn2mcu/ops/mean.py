"""Mean over the spatial axes (TFLite MEAN over H and W, Keras GlobalAveragePooling2D): an
H x W x C tensor becomes 1 x 1 x C; and its s8 binding.

s8: TensorFlow Lite Micro's integer MEAN (reduce_common.cc, reference QuantizedMeanOrSum),
which requantizes: per channel, the int32 sum of the N = H * W values less zero_point_in *
N, requantized by s_in / s_out folded with 1 / N (``mean_multiplier``), plus the output
zero point, clamped to int8. CMSIS-NN has no such kernel: nn.c defines it (``c_helpers``).
q7 refuses it (an average pooling over the whole image is the q7 way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nn2mcu.cgen import c_macro
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, Op, check_arity
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _s8
from nn2mcu.ops.registry import bind, refuse, register
from nn2mcu.s8.arithmetic import quantize_multiplier, requantize
from nn2mcu.s8.model import TensorParams

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class Mean(Op):
    kind = "mean"
    type_name = "Mean"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return Shape.vector(inputs[0].c)

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        x = inputs[0].astype(np.float64)
        out: Array = x.mean(axis=(1, 2), keepdims=True)
        return out

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.AdaptiveAvgPool2d(1)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """reduce_common.cc and QuantizedMeanOrSum: QuantizeMultiplier(s_in / s_out) in double,
    then folded with 1 / count: bits = min(floor(log2 count), 32, 31 + shift), multiplier'
    = (multiplier << bits) / count (int64, truncating), shift' = shift - bits."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    return int((multiplier << bits) // count), shift - bits


def mean_s8(
    x: IntArray, *, input_zero_point: int, output_zero_point: int, multiplier: int, shift: int
) -> IntArray:
    """Per channel: clamp(requantize(sum - zp_in * N, multiplier, shift) + zp_out)."""
    values = np.asarray(x, dtype=np.int64)
    count = values.shape[1] * values.shape[2]
    total = values.sum(axis=(1, 2), keepdims=True) - input_zero_point * count
    out = requantize(total, multiplier, shift) + output_zero_point
    return np.clip(out, -128, 127).astype(np.int8)


def _params(site: Site) -> tuple[TensorParams, TensorParams, int, int]:
    model = _s8.model_of(site)
    source, out = model.tensors[site.layer.inputs[0]], model.tensors[site.name]
    multiplier, shift = mean_multiplier(source.scale, out.scale, site.x.h * site.x.w)
    return source, out, multiplier, shift


MEAN_C = """\
/* TFLite's integer MEAN over H and W (reduce_common.cc): per channel, the sum of the
   count values less in_zero_point * count, requantized, plus out_zero_point, clamped. */
static void nn_mean_s8(const int8_t *input, int32_t count, int32_t channels,
                       int32_t in_zero_point, int32_t multiplier, int32_t shift,
                       int32_t out_zero_point, int8_t *output)
{
    for (int32_t c = 0; c < channels; c++) {
        int32_t sum = 0;
        for (int32_t i = 0; i < count; i++) {
            sum += input[i * channels + c];
        }
        int32_t value = arm_nn_requantize(sum - in_zero_point * count, multiplier, shift);
        value += out_zero_point;
        output[c] = (int8_t)(value > 127 ? 127 : (value < -128 ? -128 : value));
    }
}

"""


@bind
class MeanS8(_s8.S8Binding):
    """nn_mean_s8 (in nn.c): TFLM's integer MEAN over H and W, requantizing; the output's
    scale and zero point are calibrated like any activation's."""

    op = Mean
    functions = ("nn_mean_s8",)
    calibrated: ClassVar[bool] = True
    c_helpers: ClassVar[str] = MEAN_C

    def tensor_params(self, site: Site, sources: list[TensorParams]) -> TensorParams:
        raise TypeError("a Mean's output parameters come from calibration")

    def kernel(self, site: Site) -> Kernel:
        return Kernel("nn_mean_s8", "mean over H and W, TFLM's requantization (in nn.c)")

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        source, out, multiplier, shift = _params(site)
        result = mean_s8(
            inputs[0], input_zero_point=source.zero_point, output_zero_point=out.zero_point,
            multiplier=multiplier, shift=shift,
        )  # fmt: skip
        return result.reshape(len(result), 1, 1, -1)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        source, out, multiplier, shift = _params(site)
        return {
            **_cmsis.image_dims(site), "COUNT": site.x.h * site.x.w,
            "INPUT_ZERO_POINT": source.zero_point, "MULT": multiplier, "SHIFT": shift,
            "OUTPUT_ZERO_POINT": out.zero_point,
        }  # fmt: skip

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        p = c_macro(site.name)
        return [
            CStatement(
                f"nn_mean_s8({_s8.arena(call.input)}, {p}_COUNT, {p}_IN_CH, "
                f"{p}_INPUT_ZERO_POINT, {p}_MULT, {p}_SHIFT, {p}_OUTPUT_ZERO_POINT, "
                f"{_s8.arena(call.output)});"
            )
        ]


refuse(
    Mean,
    "q7",
    "the legacy q7 API has no requantizing mean; an average pooling over the whole image "
    "computes it",
)
