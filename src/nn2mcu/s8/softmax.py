"""arm_softmax_s8 (CMSIS-NN v7.0.0, arm_nn_softmax_common_s8 with int8 output), bit-exact.

Per row: diff = x - max(row); rows entries with diff >= diff_min contribute
exp(diff * 2^shift * mult) (gemmlowp's fixed-point exp on negative values, 5 integer
bits) to a sum with 12 accumulator bits; the reciprocal of the normalised sum (Newton's
method, three steps) scales each exponential back to [0, 1] in Q0.8, offset by -128.
Other entries give -128. All arithmetic is int32 fixed point, vectorised here in int64.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nn2mcu.s8.arithmetic import IntArray, divide_by_power_of_two, wrap32

ACCUM_BITS = 12
Q31_MAX, Q31_MIN = (1 << 31) - 1, -(1 << 31)


def _mul_sat(m1: npt.ArrayLike, m2: npt.ArrayLike) -> IntArray:
    """arm_nn_doubling_high_mult: round(m1 * m2 / 2^31), ties away from zero (a signed
    offset, then C's truncating division), saturating the one overflow."""
    a = np.asarray(m1, dtype=np.int64)
    b = np.asarray(m2, dtype=np.int64)
    offset = np.where((a < 0) ^ (b < 0), 1 - (1 << 30), 1 << 30)
    total = offset + a * b
    quotient = np.where(total >= 0, total >> 31, -((-total) >> 31))
    result = wrap32(quotient)
    return np.where((a == b) & (a == Q31_MIN), Q31_MAX, result)


def _mul_pow2(value: IntArray, exponent: int) -> IntArray:
    """arm_nn_mult_by_power_of_two: value * 2^exponent, saturated."""
    threshold = (1 << (31 - exponent)) - 1
    result = wrap32(value << exponent)
    result = np.where(value > threshold, Q31_MAX, result)
    return np.where(value < -threshold, Q31_MIN, result)


def exp_on_negative_values(values: npt.ArrayLike) -> IntArray:
    """arm_nn_exp_on_negative_values: exp(x) in Q0.31 for x <= 0 in Q5.26."""
    val = np.asarray(values, dtype=np.int64)
    mod_minus_quarter = (val & ((1 << 24) - 1)) - (1 << 24)
    remainder = wrap32(mod_minus_quarter - val)
    x = wrap32((mod_minus_quarter << 5) + (1 << 28))
    x2 = _mul_sat(x, x)
    inner = wrap32(
        _mul_sat(divide_by_power_of_two(_mul_sat(x2, x2), 2) + _mul_sat(x2, x), 715827883)
    )
    result = wrap32(
        1895147668 + _mul_sat(1895147668, wrap32(x + divide_by_power_of_two(wrap32(inner + x2), 1)))
    )
    factors = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
    for bit, factor in enumerate(factors, 24):
        result = np.where((remainder & (1 << bit)) != 0, _mul_sat(result, factor), result)
    return np.where(val == 0, Q31_MAX, result)


def one_over_one_plus_x(values: npt.ArrayLike) -> IntArray:
    """arm_nn_one_over_one_plus_x_for_x_in_0_1: 1 / (1 + x) in Q0.31 for x in [0, 1)."""
    total = np.asarray(values, dtype=np.int64) + Q31_MAX
    adjusted = total + np.where(total >= 0, 1, -1)
    half_denominator = wrap32(np.where(adjusted >= 0, adjusted // 2, -((-adjusted) // 2)))
    x = wrap32(1515870810 + _mul_sat(half_denominator, -1010580540))
    for _ in range(3):
        step = wrap32((1 << 29) - _mul_sat(half_denominator, x))
        x = wrap32(x + _mul_pow2(_mul_sat(x, step), 2))
    return _mul_pow2(x, 1)


def softmax_s8(
    x: npt.ArrayLike, multiplier: int, shift: int, diff_min: int
) -> npt.NDArray[np.int8]:
    """arm_softmax_s8 over the last axis."""
    values = np.asarray(x, dtype=np.int64)
    rows = values.reshape(-1, values.shape[-1])
    diff = rows - rows.max(axis=1, keepdims=True)
    counted = diff >= diff_min
    exps = exp_on_negative_values(_mul_sat(diff * (1 << shift), multiplier))
    sums = np.where(counted, divide_by_power_of_two(exps, ACCUM_BITS), 0).sum(axis=1)
    sums = wrap32(sums)
    headroom = np.array([32 - int(s).bit_length() if s > 0 else 32 for s in sums], np.int64)
    normalised = np.where(sums > 0, (sums.astype(np.uint64) << headroom.astype(np.uint64)), 0)
    scale = one_over_one_plus_x(normalised.astype(np.int64) - (1 << 31))
    bits_over_unit = ACCUM_BITS - headroom + 23
    scaled = divide_by_power_of_two(_mul_sat(scale[:, None], exps), bits_over_unit[:, None]) - 128
    out = np.where(counted, np.clip(scaled, -128, 127), -128)
    return out.reshape(values.shape).astype(np.int8)


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """(multiplier, shift, diff_min) for an input scale, as TFLite prepares its int8
    softmax: beta * scale * 2^26 (5 integer bits) as a Q31 multiplier with a left shift,
    and diff_min = -floor(31 * 2^26 / 2^shift)."""
    import math

    real = min(beta * input_scale * float(1 << 26), float((1 << 31) - 1))
    fraction, shift = math.frexp(real)
    multiplier = math.floor(fraction * (1 << 31) + 0.5)
    if multiplier == 1 << 31:
        multiplier //= 2
        shift += 1
    if shift < 0:
        raise ValueError(f"softmax input scale {input_scale} is too small")
    radius = math.floor(((1 << 5) - 1) * float(1 << 26) / float(1 << shift))
    return multiplier, shift, -radius
