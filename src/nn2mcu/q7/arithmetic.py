"""Integer helpers of the legacy CMSIS-NN q7 kernels (rounding constant, saturation).

The kernels' output stage with its int32 wrap-around is in matmul.py.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
AnyIntArray = npt.NDArray[np.integer]

INT8_MIN, INT8_MAX = -128, 127


def nn_round(out_shift: int) -> int:
    """NN_ROUND(out_shift): 1 << (out_shift - 1), or 0 when out_shift is 0."""
    if out_shift < 0:
        raise ValueError(f"out_shift must be >= 0, got {out_shift}")
    return 1 << (out_shift - 1) if out_shift > 0 else 0


def ssat8(values: npt.ArrayLike) -> IntArray:
    """__SSAT(x, 8): saturate to int8."""
    return np.clip(np.asarray(values, dtype=np.int64), INT8_MIN, INT8_MAX)
