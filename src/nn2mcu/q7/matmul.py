"""Exact integer sums of products through PyTorch's float kernels.

q7 values are integers in [-128, 127], so each product is at most 2**14 in magnitude
and a sum of K products at most K * 2**14. float32 represents every integer below
2**24 exactly and float64 every integer below 2**53, and a sum whose partial sums
are all exactly representable is computed exactly in any order. So float32
convolutions and matrix products are exact while K * 2**14 < 2**24 (K < 1024, e.g.
5x5 kernels on up to 40 channels); beyond that float64 is used (exact for K < 2**39).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

IntArray = npt.NDArray[np.int64]

_PRODUCT_BOUND = 1 << 14  # |x * w| for x, w in [-128, 127]


def exact_dtype(terms: int) -> torch.dtype:
    """The narrowest float type whose sums of ``terms`` q7 products are exact."""
    return torch.float32 if terms * _PRODUCT_BOUND < (1 << 24) else torch.float64


def _to_int(tensor: torch.Tensor) -> IntArray:
    return tensor.to(torch.float64).numpy().astype(np.int64)


def conv_sums(
    x: IntArray,
    weight: IntArray,
    stride: tuple[int, int],
    pad: tuple[int, int],
    *,
    depthwise: bool = False,
) -> IntArray:
    """sum over (ky, kx, i) of x[n, y*s - p + ky, x*s - p + kx, i] * w[o, ky, kx, i] (zero
    padding), NHWC in and out; ``depthwise``: weight (1, KH, KW, C), one channel each.

    Windows are gathered explicitly (unfold) and summed by a matrix product, so no
    convolution algorithm with non-integer transforms (Winograd, FFT) can be chosen.
    """
    count, height, width, channels = x.shape
    kh, kw = weight.shape[1], weight.shape[2]
    terms = kh * kw * (1 if depthwise else channels)
    dtype = exact_dtype(terms)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dtype)
    columns = F.unfold(xt, (kh, kw), padding=pad, stride=stride)  # N, C*KH*KW, L
    out_h = (height + 2 * pad[0] - kh) // stride[0] + 1
    out_w = (width + 2 * pad[1] - kw) // stride[1] + 1
    if depthwise:
        wt = torch.from_numpy(np.ascontiguousarray(weight[0].transpose(2, 0, 1))).to(dtype)
        per_channel = columns.reshape(count, channels, kh * kw, -1)
        sums = (per_channel * wt.reshape(1, channels, kh * kw, 1)).sum(dim=2)
    else:
        wt = torch.from_numpy(np.ascontiguousarray(weight.transpose(0, 3, 1, 2))).to(dtype)
        sums = wt.reshape(wt.shape[0], -1) @ columns  # N, O, L
    return _to_int(sums).reshape(count, -1, out_h, out_w).transpose(0, 2, 3, 1)


def matrix_sums(x: IntArray, weight: IntArray) -> IntArray:
    """x (N, K) @ weight (M, K).T, exactly."""
    dtype = exact_dtype(weight.shape[1])
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
    wt = torch.from_numpy(np.ascontiguousarray(weight)).to(dtype)
    return _to_int(xt @ wt.T)
