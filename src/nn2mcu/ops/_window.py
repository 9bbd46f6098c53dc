"""Helpers shared by windowed operators (convolution, pooling): 2-D attribute pairs and
four-sided padding.

``Pad`` is (top, left, bottom, right). Kernels of CMSIS-NN (legacy and s8) take the top
and left padding plus the output size; the bottom and right padding only decide the
output size.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pair = tuple[int, int]
Pad = tuple[int, int, int, int]


def check_pair(name: str, value: Pair, minimum: int) -> None:
    if (
        len(value) != 2
        or any(not isinstance(v, int) or isinstance(v, bool) for v in value)
        or min(value) < minimum
    ):
        raise ValueError(f"{name} must be two integers >= {minimum}, got {value!r}")


def check_pad(pad: Pad) -> None:
    if (
        len(pad) != 4
        or any(not isinstance(v, int) or isinstance(v, bool) for v in pad)
        or min(pad) < 0
    ):
        raise ValueError(f"pad must be four integers >= 0 (top, left, bottom, right), got {pad!r}")


def check_window(kernel: Pair, stride: Pair, pad: Pad) -> None:
    check_pair("kernel", kernel, 1)
    check_pair("stride", stride, 1)
    check_pad(pad)


def symmetric(pad: Pair) -> Pad:
    """(p, q) padding the same on both sides: (p, q, p, q)."""
    return (pad[0], pad[1], pad[0], pad[1])


def axis_pad(pad: Pad, axis: int) -> tuple[int, int]:
    """(before, after) padding along axis 0 (height) or 1 (width)."""
    return pad[axis], pad[axis + 2]


def geometry_text(kernel: Pair, stride: Pair, pad: Pad) -> str:
    """'5x5/1/2' style text; pairs that differ in y and x print as 'y,x', padding that
    differs between the two sides of an axis as 'top,left,bottom,right'."""

    def one(pair: tuple[int, ...]) -> str:
        return str(pair[0]) if len(set(pair)) == 1 else ",".join(map(str, pair))

    padding = one(pad[:2]) if pad[:2] == pad[2:] else one(pad)
    return f"{kernel[0]}x{kernel[1]}/{one(stride)}/{padding}"


def pad_text(pad: Pad) -> str:
    """'1,1' when both sides of each axis are padded alike (y, x), else 't,l,b,r'."""
    return ",".join(map(str, pad[:2] if pad[:2] == pad[2:] else pad))


def pad_nhwc(x: npt.NDArray[np.generic], pad: Pad, fill: float = 0) -> npt.NDArray[np.generic]:
    """An NHWC batch padded on the four sides with ``fill``."""
    top, left, bottom, right = pad
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)


def patches(
    x: npt.NDArray[np.floating], kernel: Pair, stride: Pair, pad: Pad, fill: float
) -> npt.NDArray[np.float64]:
    """Sliding windows of a padded NHWC batch: (N, OH, OW, C, KH, KW), float64.

    Output positions follow the convolution rule (windows entirely inside the padded
    input); ``fill`` is the value of the padding.
    """
    padded = pad_nhwc(x.astype(np.float64), pad, fill)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(1, 2))
    return windows[:, :: stride[0], :: stride[1]]


def torch_padding(pad: Pad) -> tuple[int, int, int, int]:
    """The (left, right, top, bottom) order of torch.nn.functional.pad."""
    top, left, bottom, right = pad
    return (left, right, top, bottom)


def first_reads(x_hw: Pair, out_hw: Pair, stride: Pair, pad: Pad) -> npt.NDArray[np.int64]:
    """For each output pixel in raster order, the lowest input pixel (raster index) that it
    or any later output pixel reads: the suffix minimum of each window's first in-bounds
    pixel."""
    oy = np.arange(out_hw[0], dtype=np.int64)[:, None]
    ox = np.arange(out_hw[1], dtype=np.int64)[None, :]
    row = np.maximum(oy * stride[0] - pad[0], 0)
    column = np.maximum(ox * stride[1] - pad[1], 0)
    first = (row * x_hw[1] + column).reshape(-1)
    return np.minimum.accumulate(first[::-1])[::-1]


def pixel_lead(x_hw: Pair, out_hw: Pair, stride: Pair, pad: Pad) -> int:
    """The fewest pixels an output may start before its input, when each output pixel's
    values are written after its window is read and outputs go in raster order, one value
    per input value (a depthwise channel lane): once pixel q is written, the writes end
    at q + 1 and no later read starts below first_reads(q + 1)."""
    later = first_reads(x_hw, out_hw, stride, pad)[1:]
    written = np.arange(1, later.size + 1, dtype=np.int64)
    return max(int((written - later).max(initial=0)), 0)


def byte_lead(x_hw: Pair, out_hw: Pair, stride: Pair, pad: Pad, ch_in: int, ch_out: int) -> int:
    """The fewest bytes, rounded up to a whole word (the plan's offsets are), an output may
    start before its input, when output pixels go in raster order and a pixel's bytes are
    written once its window is read (its channels in any order, the window read again
    between them): while pixel q is written, the bytes written end at ch_out * (q + 1) and
    no read starts below ch_in * first_reads(q)."""
    later = first_reads(x_hw, out_hw, stride, pad) * ch_in
    written = np.arange(1, later.size + 1, dtype=np.int64) * ch_out
    return (max(int((written - later).max(initial=0)), 0) + 3) & ~3
