"""Integer arithmetic exactly as the legacy CMSIS-NN q7 kernels do it on a Cortex-M.

The one place for their rounding, shifts, saturation and wrap-around; the integer
references in the operator modules build on these.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

INT8_MIN, INT8_MAX = -128, 127


def nn_round(out_shift: int) -> int:
    """NN_ROUND(out_shift): 1 << (out_shift - 1), or 0 when out_shift is 0."""
    if out_shift < 0:
        raise ValueError(f"out_shift must be >= 0, got {out_shift}")
    return 1 << (out_shift - 1) if out_shift > 0 else 0


def wrap_int32(values: npt.ArrayLike) -> IntArray:
    """Two's-complement wrap-around to int32, as a 32-bit accumulator overflows."""
    array = np.asarray(values, dtype=np.int64)
    return ((array + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def ssat8(values: npt.ArrayLike) -> IntArray:
    """__SSAT(x, 8): saturate to int8."""
    return np.clip(np.asarray(values, dtype=np.int64), INT8_MIN, INT8_MAX)


def c_divide(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> IntArray:
    """C integer division: the quotient truncated toward zero (numpy's // floors)."""
    n = np.asarray(numerator, dtype=np.int64)
    d = np.asarray(denominator, dtype=np.int64)
    quotient = np.abs(n) // np.abs(d)
    return np.where((n < 0) != (d < 0), -quotient, quotient)


def q7_output(sums: IntArray, bias: IntArray | None, bias_shift: int, out_shift: int) -> IntArray:
    """SSAT8(wrap32((bias << bias_shift) + NN_ROUND(out_shift) + sums) >> out_shift).

    ``>>`` is arithmetic (a floor); the bias shift wraps like the accumulator does.
    Channels are the last axis of ``sums``.
    """
    if not 0 <= bias_shift <= 31 or not 0 <= out_shift <= 31:
        raise ValueError(f"shifts must lie in 0..31, got {bias_shift} and {out_shift}")
    accumulator = np.asarray(sums, dtype=np.int64) + nn_round(out_shift)
    if bias is not None:
        accumulator = accumulator + wrap_int32(np.asarray(bias, dtype=np.int64) << bias_shift)
    return ssat8(np.right_shift(wrap_int32(accumulator), out_shift))
