"""The q7 pooling kernels on NHWC int8 batches, through PyTorch's pooling.

Window sums of at most k*k int8 values and maxima are exact in float32; ceil-mode
pooling with pad 0 clips the last windows to the image as the kernels do (floor-mode
pooling, from ONNX, has the same windows and drops the clipped ones); averages
divide by the in-bounds count with truncation toward zero (integer division).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from nn2mcu.q7.arithmetic import Int8Array


def _nchw(x: npt.NDArray[np.integer]) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x)).to(torch.float32).permute(0, 3, 1, 2)


def _nhwc_int8(t: torch.Tensor) -> Int8Array:
    result: Int8Array = t.to(torch.int8).permute(0, 2, 3, 1).contiguous().numpy()
    return result


def max_q7(
    x: npt.NDArray[np.integer],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    ceil_mode: bool = True,
) -> Int8Array:
    return _nhwc_int8(F.max_pool2d(_nchw(x), kernel, stride, ceil_mode=ceil_mode))


def _sums(
    t: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], ceil_mode: bool
) -> torch.Tensor:
    sums = F.avg_pool2d(t, kernel, stride, ceil_mode=ceil_mode, divisor_override=1)
    return sums.to(torch.int32)


def average_q7(
    x: npt.NDArray[np.integer],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    row_counts: list[int],
    column_counts: list[int],
    *,
    two_passes: bool,
    ceil_mode: bool = True,
) -> Int8Array:
    t = _nchw(x)
    rows = torch.tensor(row_counts, dtype=torch.int32).view(1, 1, -1, 1)
    columns = torch.tensor(column_counts, dtype=torch.int32).view(1, 1, 1, -1)
    if not two_passes:
        sums = _sums(t, kernel, stride, ceil_mode)
        return _nhwc_int8(torch.div(sums, rows * columns, rounding_mode="trunc"))
    across = torch.div(
        _sums(t, (1, kernel[1]), (1, stride[1]), ceil_mode), columns, rounding_mode="trunc"
    )
    down = _sums(across.to(torch.float32), (kernel[0], 1), (stride[0], 1), ceil_mode)
    return _nhwc_int8(torch.div(down, rows, rounding_mode="trunc"))
