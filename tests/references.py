"""The q7 kernel models by operator, for kernel-tier tests that call them without a
quantized model (the bindings call the same functions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nn2mcu.ops import Conv2D, DepthwiseConv2D, FullyConnected, Pool2D, PoolMethod, ReLU, Softmax
from nn2mcu.ops.softmax import softmax_q7
from nn2mcu.q7.matmul import conv_q7, fully_connected_q7
from nn2mcu.q7.model import AverageVariant, SoftmaxVersion
from nn2mcu.q7.pooling import average_q7, max_q7


def q7_reference(op: Any, x: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    if isinstance(op, Conv2D | DepthwiseConv2D):
        weight, bias = args
        return conv_q7(
            x, weight, bias if op.bias else None, stride=op.stride, pad=op.pad,
            depthwise=isinstance(op, DepthwiseConv2D), **kwargs,
        )  # fmt: skip
    if isinstance(op, FullyConnected):
        weight, bias = args
        out = fully_connected_q7(
            x.reshape(x.shape[0], -1), weight, bias if op.bias else None, **kwargs
        )
        return out.reshape(x.shape[0], 1, 1, -1)
    if isinstance(op, Pool2D):
        variant = args[0] if args else kwargs.get("variant", AverageVariant.DSP)
        if any(op.pad):
            raise ValueError("the q7 pooling kernels are modelled for pad 0 only")
        if op.method is PoolMethod.MAX:
            return max_q7(x, op.kernel, op.stride, op.ceil_mode)
        rows, columns = op.windows(0, x.shape[1]), op.windows(1, x.shape[2])
        return average_q7(
            x, op.kernel, op.stride, [e - s for s, e, _ in rows], [e - s for s, e, _ in columns],
            two_passes=variant is AverageVariant.DSP, ceil_mode=op.ceil_mode,
        )  # fmt: skip
    if isinstance(op, Softmax):
        return softmax_q7(x, args[0] if args else SoftmaxVersion.V2019)
    if isinstance(op, ReLU):
        return np.maximum(x, 0)
    raise TypeError(f"no q7 reference for {op!r}")
