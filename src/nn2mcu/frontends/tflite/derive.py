"""The integers TensorFlow Lite Micro derives from a model's scales and zero points, computed
as its kernels' prepare steps compute them (tflite-micro: kernel_util.cc,
fully_connected_common.cc, pooling_common.cc, reduce_common.cc, padding.h), so that the
generated C is bit-exact with TFLM's reference kernels and with CMSIS-NN.

Scales are the float32 values the file stores; Python floats hold them exactly, so a
``double`` expression of TFLM is the same Python expression, and a ``float`` one is
computed in numpy float32.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from nn2mcu.s8.arithmetic import quantize_multiplier

INT8_MIN, INT8_MAX = -128, 127

# tflite.ActivationFunctionType
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def round_half_away(value: float) -> float:
    """std::round / TfLiteRound: halves away from zero."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _quantize_f32(scale: float, zero_point: int, real: float) -> int:
    """kernel_util.cc's Quantize: zero_point + TfLiteRound(f / scale), the division in
    float32."""
    quotient = float(np.float32(real) / np.float32(scale))
    return zero_point + int(round_half_away(quotient))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs: RELU [max(-128, q(0)), 127],
    RELU6 [max(-128, q(0)), min(127, q(6))], RELU_N1_TO_1 [max(-128, q(-1)), min(127,
    q(1))], NONE [-128, 127]."""
    if activation == RELU:
        return max(INT8_MIN, _quantize_f32(scale, zero_point, 0.0)), INT8_MAX
    if activation == RELU6:
        return (
            max(INT8_MIN, _quantize_f32(scale, zero_point, 0.0)),
            min(INT8_MAX, _quantize_f32(scale, zero_point, 6.0)),
        )
    if activation == RELU_N1_TO_1:
        return (
            max(INT8_MIN, _quantize_f32(scale, zero_point, -1.0)),
            min(INT8_MAX, _quantize_f32(scale, zero_point, 1.0)),
        )
    if activation == NONE:
        return INT8_MIN, INT8_MAX
    raise ValueError(f"fused activation {ACTIVATION_NAMES.get(activation, activation)}")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of TFLite's SAME padding (dilation 1):
    out = ceil(in / stride), total = max((out - 1) * stride + kernel - in, 0), before =
    floor(total / 2), after = total - before."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def valid_output(size: int, kernel: int, stride: int) -> int:
    """TFLite's VALID output size: ceil((in - kernel + 1) / stride)."""
    return (size - kernel + stride) // stride


def per_channel_multipliers(
    input_scale: float, filter_scales: npt.ArrayLike, output_scale: float, channels: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """PopulateConvolutionQuantizationParams: per output channel, QuantizeMultiplier of
    (double)s_in * (double)s_w[c] / (double)s_out; one filter scale is broadcast."""
    scales = np.asarray(filter_scales, dtype=np.float32).ravel()
    multipliers, shifts = [], []
    for c in range(channels):
        filter_scale = float(scales[c] if scales.size > 1 else scales[0])
        m, s = quantize_multiplier(float(input_scale) * filter_scale / float(output_scale))
        multipliers.append(m)
        shifts.append(s)
    return np.asarray(multipliers, np.int64), np.asarray(shifts, np.int64)


def fully_connected_multiplier(
    input_scale: float, filter_scale: float, output_scale: float
) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler for a per-tensor FULLY_CONNECTED: the product
    s_in * s_w in float32, widened, then divided by s_out in double."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


def bias_scale_error(
    input_scale: float, filter_scale: float, bias_scale: float, output_scale: float
) -> float:
    """|s_in * s_w - s_b| / s_out (double), which TFLM requires to be <= 0.02."""
    return abs(float(input_scale) * float(filter_scale) - float(bias_scale)) / float(output_scale)
