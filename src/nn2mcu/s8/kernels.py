"""Bit-exact models of CMSIS-NN v7.0.0's s8 kernels on NHWC batches.

Convolutions (arm_convolve_wrapper_s8 and what it dispatches to: 1x1 fast, 1xN and the
generic kernel, which all compute the same), depthwise convolutions
(arm_depthwise_conv_wrapper_s8) and fully-connected layers (arm_fully_connected_s8,
arm_fully_connected_per_channel_s8) compute, per output,

    acc = bias + sum (x + input_offset) * w          (padding contributes 0)
    out = clamp(requantize(acc, multiplier, shift) + output_offset, act_min, act_max)

with the multiplier and shift per output channel (or one for the tensor). The sums are
computed exactly in float32 or float64 (|x + input_offset| <= 255 and |w| <= 128, so
every product is below 2^15 and every partial sum of K products an exact integer in
float32 while K < 512, in float64 while K < 2^38) and wrapped to the int32 accumulator.
arm_max_pool_s8 takes the maximum of the window's in-bounds values; arm_avgpool_s8
divides their sum by their count, rounding half away from zero ((sum + count/2) / count
for a positive sum, (sum - count/2) / count otherwise, with C's truncating division).
Both then clamp to [act_min, act_max].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from nn2mcu.s8.arithmetic import IntArray, requantize, wrap32

Int8Array = npt.NDArray[np.int8]


def _finish(
    sums: IntArray,
    bias: IntArray | None,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    output_offset: int,
    activation: tuple[int, int],
    single_rounding: bool,
) -> Int8Array:
    """The output stage; channels on the last axis of ``sums``."""
    accumulator = sums if bias is None else sums + np.asarray(bias, dtype=np.int64)
    scaled = requantize(wrap32(accumulator), multiplier, shift, single_rounding=single_rounding)
    low, high = activation
    return np.clip(scaled + output_offset, low, high).astype(np.int8)


def _exact_dtype(terms: int) -> np.dtype[np.floating]:
    """float32 while every partial sum stays below 2^24 (|(x + offset) * w| < 2^15),
    else float64 (exact below 2^53)."""
    return np.dtype(np.float32) if terms * (1 << 15) < (1 << 24) else np.dtype(np.float64)


def _convolve(
    x: npt.NDArray[np.integer],
    filters: npt.NDArray[np.integer],
    groups: int,
    bias: IntArray | None,
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    input_offset: int,
    output_offset: int,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    activation: tuple[int, int],
    single_rounding: bool,
) -> Int8Array:
    """The sums of (x + input_offset) * filters (OIHW, zero padding on the four sides: top,
    left, bottom, right), then the output stage."""
    dtype = _exact_dtype(int(np.prod(filters.shape[1:])))
    shifted = (np.asarray(x, dtype=np.int64) + input_offset).astype(dtype)
    top, left, bottom, right = pad
    sums = F.conv2d(
        F.pad(torch.from_numpy(shifted).permute(0, 3, 1, 2), (left, right, top, bottom)),
        torch.from_numpy(np.ascontiguousarray(filters, dtype=dtype)),
        stride=stride,
        groups=groups,
    )
    exact = sums.permute(0, 2, 3, 1).numpy().astype(np.int64)
    return _finish(exact, bias, multiplier, shift, output_offset, activation, single_rounding)


def conv_s8(
    x: npt.NDArray[np.integer],
    weight: npt.NDArray[np.integer],
    bias: IntArray | None,
    *,
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    input_offset: int,
    output_offset: int,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    activation: tuple[int, int] = (-128, 127),
    single_rounding: bool = False,
) -> Int8Array:
    """arm_convolve_wrapper_s8 on an NHWC batch; ``weight`` is OHWI."""
    filters = np.asarray(weight).transpose(0, 3, 1, 2)
    return _convolve(x, filters, 1, bias, stride, pad, input_offset, output_offset, multiplier,
                     shift, activation, single_rounding)  # fmt: skip


def depthwise_conv_s8(
    x: npt.NDArray[np.integer],
    weight: npt.NDArray[np.integer],
    bias: IntArray | None,
    *,
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    input_offset: int,
    output_offset: int,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    activation: tuple[int, int] = (-128, 127),
    single_rounding: bool = False,
) -> Int8Array:
    """arm_depthwise_conv_wrapper_s8 on an NHWC batch; ``weight`` is 1 x KH x KW x (C *
    multiplier), CMSIS-NN's layout: output channel c * multiplier + m filters channel c."""
    kernel = np.asarray(weight).reshape(weight.shape[-3:])  # KH x KW x C
    filters = kernel.transpose(2, 0, 1)[:, None]  # C x 1 x KH x KW
    return _convolve(x, filters, x.shape[3], bias, stride, pad, input_offset, output_offset,
                     multiplier, shift, activation, single_rounding)  # fmt: skip


def fully_connected_s8(
    x: npt.NDArray[np.integer],
    weight: npt.NDArray[np.integer],
    bias: IntArray | None,
    *,
    input_offset: int,
    output_offset: int,
    multiplier: npt.ArrayLike,
    shift: npt.ArrayLike,
    activation: tuple[int, int] = (-128, 127),
    single_rounding: bool = False,
) -> Int8Array:
    """arm_fully_connected_s8 (one multiplier and shift) or _per_channel_s8 (one per row)
    on a batch of vectors (N x K); ``weight`` is rows x K."""
    vectors = np.asarray(x, dtype=np.float64).reshape(len(x), -1) + input_offset
    sums = (vectors @ np.asarray(weight, dtype=np.float64).T).astype(np.int64)
    return _finish(sums, bias, multiplier, shift, output_offset, activation, single_rounding)


def _windows(size: int, kernel: int, stride: int, pad: int, out: int) -> list[tuple[int, int]]:
    spans = []
    for index in range(out):
        start = index * stride - pad
        spans.append((max(start, 0), min(start + kernel, size)))
    return spans


def pool_s8(
    x: npt.NDArray[np.integer],
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    out_shape: tuple[int, int],
    average: bool,
    activation: tuple[int, int] = (-128, 127),
) -> Int8Array:
    """arm_max_pool_s8 or arm_avgpool_s8 on an NHWC batch; windows are clipped to the
    image and an empty window is refused (CMSIS-NN returns ARM_CMSIS_NN_ARG_ERROR)."""
    values = np.asarray(x, dtype=np.int64)
    n, height, width, channels = values.shape
    rows = _windows(height, kernel[0], stride[0], pad[0], out_shape[0])
    columns = _windows(width, kernel[1], stride[1], pad[1], out_shape[1])
    out = np.empty((n, out_shape[0], out_shape[1], channels), dtype=np.int64)
    for oy, (y0, y1) in enumerate(rows):
        for ox, (x0, x1) in enumerate(columns):
            window = values[:, y0:y1, x0:x1, :]
            if window.shape[1] == 0 or window.shape[2] == 0:
                raise ValueError(f"pooling window ({oy}, {ox}) lies entirely in the padding")
            if not average:
                out[:, oy, ox, :] = window.max(axis=(1, 2))
                continue
            count = window.shape[1] * window.shape[2]
            total = window.sum(axis=(1, 2))
            half = count // 2
            out[:, oy, ox, :] = np.where(
                total > 0, (total + half) // count, -((-total + half) // count)
            )
    low, high = activation
    return np.clip(out, low, high).astype(np.int8)
