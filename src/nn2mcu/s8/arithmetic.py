"""The integer arithmetic of CMSIS-NN's s8 kernels (v7.0.0), vectorised over numpy arrays.

Requantization multiplies an int32 value by a Q31 multiplier and scales it by 2^shift:

default (two roundings, as TFLite's reference kernels):
    x = wrap32(val * 2^max(shift, 0))
    h = wrap32((x * multiplier + 2^30) >> 31)          doubling high multiply, ties up
    r = h / 2^max(-shift, 0), ties away from zero      divide by a power of two
CMSIS_NN_USE_SINGLE_ROUNDING:
    t = wrap32((val * multiplier) >> (30 - shift)); r = (t + 1) >> 1

Multipliers come from a real scale as TFLite computes them: frexp gives q in [0.5, 1)
and an exponent; the multiplier is round(q * 2^31) (half away from zero), carried into
the exponent when it reaches 2^31; scales below 2^-32 give 0 (TFLite's rule).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(values: npt.ArrayLike) -> IntArray:
    """Two's complement int32 wrap-around of int64 values."""
    array = np.asarray(values, dtype=np.int64)
    return ((array + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def doubling_high_mult_no_sat(m1: npt.ArrayLike, m2: npt.ArrayLike) -> IntArray:
    """arm_nn_doubling_high_mult_no_sat: (m1 * m2 + 2^30) >> 31, as int32."""
    product = np.asarray(m1, dtype=np.int64) * np.asarray(m2, dtype=np.int64)
    return wrap32((product + (1 << 30)) >> 31)


def divide_by_power_of_two(dividend: npt.ArrayLike, exponent: npt.ArrayLike) -> IntArray:
    """arm_nn_divide_by_power_of_two: dividend / 2^exponent, the midpoint away from zero."""
    value = np.asarray(dividend, dtype=np.int64)
    power = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << power) - 1
    remainder = value & mask
    result: IntArray = value >> power
    threshold = (mask >> 1) + (result < 0).astype(np.int64)
    return result + (remainder > threshold).astype(np.int64)


def requantize(
    values: npt.ArrayLike,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    *,
    single_rounding: bool = False,
) -> IntArray:
    """arm_nn_requantize (per element; multiplier and shift broadcast, e.g. per channel).
    Shifts outside -31..30 are refused: the C would shift by 32 or more (undefined)."""
    val = np.asarray(values, dtype=np.int64)
    mult = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if shift.size and (shift.min() < -31 or shift.max() > 30):
        raise ValueError(
            f"a requantization shift outside -31..30: {int(shift.min())}..{int(shift.max())}"
        )
    if single_rounding:
        total_shift = 31 - shift
        truncated = wrap32((val * mult) >> (total_shift - 1))
        return (truncated + 1) >> 1
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = wrap32(val * (np.int64(1) << left))
    return divide_by_power_of_two(doubling_high_mult_no_sat(scaled, mult), right)


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """(Q31 multiplier, shift) with scale = multiplier * 2^(shift - 31), as TFLite's
    QuantizeMultiplier computes them."""
    if scale < 0 or not math.isfinite(scale):
        raise ValueError(f"a requantization scale must be finite and >= 0, got {scale}")
    if scale == 0:
        return 0, 0
    fraction, shift = math.frexp(scale)
    fixed = math.floor(fraction * (1 << 31) + 0.5)  # half away from zero (fraction > 0)
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # arm_nn_requantize takes shifts up to 30
        raise ValueError(f"a requantization scale of {scale} is out of range (>= 2^30)")
    return fixed, shift
