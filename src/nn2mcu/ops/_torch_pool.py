"""PyTorch pooling with Caffe's semantics (output size, clipping, AVE divisor).

PyTorch's own pooling with ceil_mode=True and count_include_pad=True computes
exactly Caffe's windows and divisors, but only accepts pad <= kernel / 2; larger
pads (Caffe allows pad < kernel) pad explicitly and divide by Caffe's divisors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from nn2mcu.ir.shape import Shape

if TYPE_CHECKING:
    from nn2mcu.ops.pool2d import Pool2D


class _ExplicitPadPool(torch.nn.Module):
    divisor: torch.Tensor

    def __init__(self, op: Pool2D, x: Shape) -> None:
        super().__init__()
        from nn2mcu.ops.pool2d import PoolMethod

        self.maximum = op.method is PoolMethod.MAX
        self.kernel = op.kernel
        self.stride = op.stride
        rows, columns = op.windows(0, x.h), op.windows(1, x.w)
        extent_y = (len(rows) - 1) * op.stride[0] + op.kernel[0]
        extent_x = (len(columns) - 1) * op.stride[1] + op.kernel[1]
        # left, right, top, bottom; a negative pad crops
        self.padding = (
            op.pad[1],
            extent_x - x.w - op.pad[1],
            op.pad[0],
            extent_y - x.h - op.pad[0],
        )
        divisors = np.outer([d for _, _, d in rows], [d for _, _, d in columns])
        self.register_buffer("divisor", torch.tensor(divisors, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.maximum:
            padded = F.pad(x, self.padding, value=float("-inf"))
            return F.max_pool2d(padded, self.kernel, self.stride)
        padded = F.pad(x, self.padding, value=0.0)
        sums = F.avg_pool2d(padded, self.kernel, self.stride, divisor_override=1)
        return sums / self.divisor


def caffe_pool_module(op: Pool2D, x: Shape) -> torch.nn.Module:
    from nn2mcu.ops.pool2d import PoolMethod

    native = all(2 * op.pad[axis] <= op.kernel[axis] for axis in (0, 1))
    if not native:
        return _ExplicitPadPool(op, x)
    if op.method is PoolMethod.MAX:
        return torch.nn.MaxPool2d(op.kernel, op.stride, op.pad, ceil_mode=op.ceil_mode)
    return torch.nn.AvgPool2d(
        op.kernel, op.stride, op.pad, ceil_mode=op.ceil_mode, count_include_pad=True
    )
