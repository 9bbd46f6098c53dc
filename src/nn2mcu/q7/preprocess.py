"""Input preprocessing of the q7 scheme, identical in the simulator and the generated C.

M = floor(mean + 0.5) per pixel (a mean file, HWC) or per channel (mean values); for
an input format with f fractional bits a uint8 pixel p becomes
    q = SSAT8((p - M) * 2**f)                        when f >= 0
    q = SSAT8((p - M + 2**(-f - 1)) >> -f)           when f < 0
(round half up, arithmetic shift).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nn2mcu.q7.arithmetic import IntArray, ssat8


def integer_mean(mean: npt.ArrayLike) -> IntArray:
    """floor(mean + 0.5), elementwise."""
    return np.floor(np.asarray(mean, dtype=np.float64) + 0.5).astype(np.int64)


def quantize_input(pixels: npt.ArrayLike, mean: IntArray, frac: int) -> IntArray:
    """uint8 pixels (N, H, W, C) to the q7 input; ``mean`` broadcasts (H, W, C) or (C,)."""
    centred = np.asarray(pixels, dtype=np.int64) - mean
    if frac >= 0:
        return ssat8(centred << frac)
    return ssat8((centred + (1 << (-frac - 1))) >> -frac)
