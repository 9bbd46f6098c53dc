"""int8 input tensors for models that take them (imported from TFLite): deterministic
random ones, and pixels mapped through a model's input quantization."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def random_tensors(
    shape: tuple[int, int, int], zero_point: int, count: int, seed: int = 0
) -> npt.NDArray[np.int8]:
    """``count`` int8 tensors of ``shape`` (H, W, C): the first half uniform over
    -128..127, the rest near the zero point (within +-16, clipped), from one seed."""
    rng = np.random.default_rng(seed)
    uniform = count - count // 2
    first = rng.integers(-128, 128, size=(uniform, *shape))
    near = np.clip(zero_point + rng.integers(-16, 17, size=(count // 2, *shape)), -128, 127)
    return np.concatenate([first, near]).astype(np.int8)


def round_half_away(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rounding halves away from zero: trunc(v + 0.5) for v >= 0, trunc(v - 0.5) else."""
    return np.trunc(np.where(values >= 0, values + 0.5, values - 0.5))


def pixels_to_tensors(
    pixels: npt.NDArray[np.uint8], mean: float, scale: float, tensor_scale: float,
    zero_point: int,
) -> npt.NDArray[np.int8]:  # fmt: skip
    """x = (p - M) * S, then q = clamp(round-half-away(x / scale) + zero point, -128, 127),
    in double precision (x / scale limited to +-512 first, which changes no result)."""
    x = (pixels.astype(np.float64) - float(mean)) * float(scale)
    q = round_half_away(np.clip(x / float(tensor_scale), -512.0, 512.0)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)
