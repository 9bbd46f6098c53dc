"""The q7 convolution and inner-product kernels, computed exactly with PyTorch.

q7 values are integers in [-128, 127], so each product is at most 2**14 in magnitude
and a sum of K products at most K * 2**14. float32 represents every integer below
2**24 exactly and float64 every integer below 2**53, and a sum whose partial sums are
all exactly representable is computed exactly in any order. So float32 convolutions
and matrix products are exact while K * 2**14 < 2**24 (K < 1024, e.g. 5x5 kernels on
up to 40 channels); beyond that float64 is used (exact for K < 2**39). PyTorch's CPU
convolution multiplies and adds directly (it asks oneDNN for the direct algorithm,
never Winograd or FFT); as a guard, every sum is checked to be an integer.

The output stage computes (bias << bias_shift) + NN_ROUND(out_shift) + sum, shifted right
arithmetically and saturated: in float32 while every value provably stays below 2**24,
else in int64 with the int32 accumulator's wrap-around.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from nn2mcu.q7.arithmetic import Int8Array, IntArray, nn_round

_PRODUCT_BOUND = 1 << 14  # |x * w| for x, w in [-128, 127]


def exact_dtype(terms: int) -> torch.dtype:
    """The narrowest float type whose sums of ``terms`` q7 products are exact."""
    return torch.float32 if terms * _PRODUCT_BOUND < (1 << 24) else torch.float64


def check_shifts(bias: IntArray | None, bias_shift: int, out_shift: int) -> None:
    """Refuse shifts the C kernels would compute with undefined behaviour: out_shift
    outside 0..31, a negative bias_shift, or bias << bias_shift outside int32."""
    check_shift_counts(bias_shift, out_shift)
    if bias is not None and np.asarray(bias).size:
        shifted = np.asarray(bias, dtype=np.int64) * (1 << min(bias_shift, 40))
        if shifted.min() < -(1 << 31) or shifted.max() > (1 << 31) - 1:
            raise ValueError(f"bias << bias_shift ({bias_shift}) leaves int32 (undefined in C)")


def check_shift_counts(bias_shift: int, out_shift: int) -> None:
    """Refuse shift counts no C shift takes: out_shift outside 0..31, bias_shift outside
    0..31. (The kernels' models keep the 32-bit wrap-around of a shifted bias.)"""
    if not 0 <= out_shift <= 31:
        raise ValueError(f"out_shift {out_shift} is outside 0..31 (undefined in C)")
    if not 0 <= bias_shift <= 31:
        raise ValueError(f"bias_shift {bias_shift} is outside 0..31 (undefined in C)")


def _output_stage(
    sums: torch.Tensor, terms: int, bias: IntArray | None, bias_shift: int, out_shift: int
) -> torch.Tensor:
    """int8 outputs from exact float sums (modified in place); channels on dimension 1."""
    if not bool(torch.all(sums[:1] == torch.round(sums[:1]))):
        raise ArithmeticError("the float kernel returned a non-integer sum")
    check_shift_counts(bias_shift, out_shift)
    channels = sums.shape[1]
    constant = np.full(channels, nn_round(out_shift), dtype=np.int64)
    if bias is not None:
        constant = constant + (np.asarray(bias, dtype=np.int64) << bias_shift)
    bound = terms * _PRODUCT_BOUND + int(np.abs(constant).max(initial=0))
    view = (1, channels) + (1,) * (sums.dim() - 2)
    if bound < (1 << 24):
        # Every value stays an integer below 2**24, exact in float32; >> out_shift is
        # floor(v * 2**-out_shift), exact too (a power-of-two scaling, then floor).
        sums += torch.from_numpy(constant.astype(np.float32)).view(view)
        sums *= 2.0**-out_shift
        return sums.floor_().clamp_(-128, 127).to(torch.int8)
    # Large sums: int64, with the 32-bit accumulator's wrap-around.
    wrapped = ((constant + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    accumulator = sums.to(torch.int64) + torch.from_numpy(wrapped).view(view)
    accumulator = ((accumulator + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    shifted = torch.bitwise_right_shift(accumulator, out_shift)
    return torch.clamp(shifted, -128, 127).to(torch.int8)


def _padded(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """An NCHW tensor with zeros on the four sides (top, left, bottom, right)."""
    top, left, bottom, right = pad
    return F.pad(x, (left, right, top, bottom)) if any(pad) else x


def conv_q7(
    x: npt.NDArray[np.integer],
    weight: IntArray,
    bias: IntArray | None,
    *,
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    bias_shift: int,
    out_shift: int,
    depthwise: bool = False,
) -> Int8Array:
    """The legacy q7 convolution (``depthwise``: one filter per channel) on an NHWC batch;
    ``pad`` is (top, left, bottom, right)."""
    channels = x.shape[3]
    kh, kw = weight.shape[1], weight.shape[2]
    terms = kh * kw * (1 if depthwise else channels)
    dtype = exact_dtype(terms)
    xt = _padded(torch.from_numpy(np.asarray(x)).to(dtype).permute(0, 3, 1, 2), pad)
    if depthwise:
        wt = torch.from_numpy(np.ascontiguousarray(weight.transpose(3, 0, 1, 2))).to(dtype)
        sums = F.conv2d(xt, wt, stride=stride, groups=channels)
    else:
        wt = torch.from_numpy(np.ascontiguousarray(weight.transpose(0, 3, 1, 2))).to(dtype)
        sums = F.conv2d(xt, wt, stride=stride)
    out = _output_stage(sums, terms, bias, bias_shift, out_shift)
    result: Int8Array = out.permute(0, 2, 3, 1).contiguous().numpy()
    return result


def fully_connected_q7(
    x: npt.NDArray[np.integer],
    weight: IntArray,
    bias: IntArray | None,
    *,
    bias_shift: int,
    out_shift: int,
) -> Int8Array:
    """The legacy q7 inner product on (N, K) inputs: (N, M) outputs."""
    terms = weight.shape[1]
    dtype = exact_dtype(terms)
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
    wt = torch.from_numpy(np.ascontiguousarray(weight)).to(dtype)
    out = _output_stage(xt @ wt.T, terms, bias, bias_shift, out_shift)
    result: Int8Array = out.numpy()
    return result
