"""Helpers shared by windowed operators (convolution, pooling): 2-D attribute pairs."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pair = tuple[int, int]


def check_pair(name: str, value: Pair, minimum: int) -> None:
    if (
        len(value) != 2
        or any(not isinstance(v, int) or isinstance(v, bool) for v in value)
        or min(value) < minimum
    ):
        raise ValueError(f"{name} must be two integers >= {minimum}, got {value!r}")


def check_window(kernel: Pair, stride: Pair, pad: Pair) -> None:
    check_pair("kernel", kernel, 1)
    check_pair("stride", stride, 1)
    check_pair("pad", pad, 0)


def geometry_text(kernel: Pair, stride: Pair, pad: Pair) -> str:
    """'5x5/1/2' style text; pairs that differ in y and x print as 'y,x'."""

    def one(pair: Pair) -> str:
        return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]},{pair[1]}"

    return f"{kernel[0]}x{kernel[1]}/{one(stride)}/{one(pad)}"


def patches(
    x: npt.NDArray[np.floating], kernel: Pair, stride: Pair, pad: Pair, fill: float
) -> npt.NDArray[np.float64]:
    """Sliding windows of a padded NHWC batch: (N, OH, OW, C, KH, KW), float64.

    Output positions follow the convolution rule (windows entirely inside the padded
    input); ``fill`` is the value of the padding.
    """
    padded = np.pad(
        x.astype(np.float64),
        ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)),
        constant_values=fill,
    )
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(1, 2))
    return windows[:, :: stride[0], :: stride[1]]
