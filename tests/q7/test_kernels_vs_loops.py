"""Each q7 kernel model against a slow, obviously correct pure-Python loop of the same
formulas, on random shapes, signs, paddings, strides, odd channel counts, saturating
values and int32 wrap-around."""

from __future__ import annotations

import numpy as np
import pytest

from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Pool2D,
    PoolMethod,
    ReLU,
    Softmax,
)
from nn2mcu.q7.model import AverageVariant
from tests.references import q7_reference

CASES = range(40)


def wrap32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def output(acc: int, out_shift: int) -> int:
    rounding = 1 << (out_shift - 1) if out_shift else 0
    return max(-128, min(127, wrap32(acc + rounding) >> out_shift))


def random_int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int64)


def shifts(rng: np.random.Generator) -> tuple[int, int]:
    if rng.random() < 0.2:  # bias << shift wraps the 32-bit accumulator
        return int(rng.integers(24, 32)), int(rng.integers(0, 32))
    return int(rng.integers(0, 10)), int(rng.integers(0, 14))


def conv_loop(x, w, b, stride, pad, bias_shift, out_shift, depthwise):
    n_, h, wd, c = x.shape
    o_, kh, kw = w.shape[0], w.shape[1], w.shape[2]
    outs = c if depthwise else o_
    oh = (h + pad[0] + pad[2] - kh) // stride[0] + 1
    ow = (wd + pad[1] + pad[3] - kw) // stride[1] + 1
    out = np.zeros((n_, oh, ow, outs), dtype=np.int64)
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(outs):
                    acc = int(b[o]) << bias_shift
                    for ky in range(kh):
                        for kx in range(kw):
                            y, xx = oy * stride[0] - pad[0] + ky, ox * stride[1] - pad[1] + kx
                            if 0 <= y < h and 0 <= xx < wd:
                                if depthwise:
                                    acc += int(x[n, y, xx, o]) * int(w[0, ky, kx, o])
                                else:
                                    for i in range(c):
                                        acc += int(x[n, y, xx, i]) * int(w[o, ky, kx, i])
                    out[n, oy, ox, o] = output(acc, out_shift)
    return out


@pytest.mark.parametrize("case", CASES)
def test_convolution(case: int) -> None:
    rng = np.random.default_rng(case)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    pad = tuple(int(rng.integers(0, kernel[axis % 2])) for axis in range(4))  # t, l, b, r
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    h, w = int(rng.integers(kernel[0], 9)), int(rng.integers(kernel[1], 9))
    c, o = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    x, weight, bias = (
        random_int8(rng, (2, h, w, c)),
        random_int8(rng, (o, *kernel, c)),
        random_int8(rng, (o,)),
    )
    bias_shift, out_shift = shifts(rng)
    op = Conv2D(out_channels=o, kernel=kernel, stride=stride, pad=pad)
    got = q7_reference(op, x, weight, bias, bias_shift=bias_shift, out_shift=out_shift)
    np.testing.assert_array_equal(
        got, conv_loop(x, weight, bias, stride, pad, bias_shift, out_shift, False)
    )


@pytest.mark.parametrize("case", CASES)
def test_depthwise_convolution(case: int) -> None:
    rng = np.random.default_rng(100 + case)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    pad = tuple(int(rng.integers(0, kernel[axis % 2])) for axis in range(4))  # t, l, b, r
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h, w, c = (
        int(rng.integers(kernel[0], 8)),
        int(rng.integers(kernel[1], 8)),
        int(rng.integers(1, 7)),
    )
    x, weight, bias = (
        random_int8(rng, (2, h, w, c)),
        random_int8(rng, (1, *kernel, c)),
        random_int8(rng, (c,)),
    )
    bias_shift, out_shift = shifts(rng)
    op = DepthwiseConv2D(kernel=kernel, stride=stride, pad=pad)
    got = q7_reference(op, x, weight, bias, bias_shift=bias_shift, out_shift=out_shift)
    np.testing.assert_array_equal(
        got, conv_loop(x, weight, bias, stride, pad, bias_shift, out_shift, True)
    )


def test_large_accumulators_stay_exact() -> None:
    """ch_in * k * k = 2,048 products of -128 * -128: sums past float32's 2**24."""
    x = np.full((1, 4, 4, 128), -128, dtype=np.int64)
    weight = np.full((2, 4, 4, 128), -128, dtype=np.int64)
    weight[1, 0, 0, 0] = 127
    op = Conv2D(out_channels=2, kernel=(4, 4))
    got = q7_reference(op, x, weight, np.array([1, -1]), bias_shift=0, out_shift=20)
    exact = [(2048 * 16384 + 1 + (1 << 19)) >> 20, (2047 * 16384 - 128 * 127 - 1 + (1 << 19)) >> 20]
    assert got.ravel().tolist() == [min(127, v) for v in exact]


@pytest.mark.parametrize("case", CASES)
def test_fully_connected(case: int) -> None:
    rng = np.random.default_rng(200 + case)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 9)))
    rows = int(rng.integers(1, 12))
    x, weight, bias = (
        random_int8(rng, (3, *shape)),
        random_int8(rng, (rows, int(np.prod(shape)))),
        random_int8(rng, (rows,)),
    )
    bias_shift, out_shift = shifts(rng)
    got = q7_reference(
        FullyConnected(out_features=rows),
        x,
        weight,
        bias,
        bias_shift=bias_shift,
        out_shift=out_shift,
    )
    for n in range(3):
        flat = x[n].ravel()  # HWC order
        for r in range(rows):
            acc = (int(bias[r]) << bias_shift) + sum(
                int(a) * int(b) for a, b in zip(flat, weight[r], strict=True)
            )
            assert got[n, 0, 0, r] == output(acc, out_shift)


def pool_loop(x, kernel, stride, method, variant):
    n_, h, w, c = x.shape
    oh = -(-(h - kernel[0]) // stride[0]) + 1
    ow = -(-(w - kernel[1]) // stride[1]) + 1

    def tdiv(a: int, b: int) -> int:
        q = abs(a) // abs(b)
        return -q if (a < 0) != (b < 0) else q

    out = np.zeros((n_, oh, ow, c), dtype=np.int64)
    for n in range(n_):
        for ch in range(c):
            for oy in range(oh):
                ys = range(oy * stride[0], min(oy * stride[0] + kernel[0], h))
                for ox in range(ow):
                    xs = range(ox * stride[1], min(ox * stride[1] + kernel[1], w))
                    values = [[int(x[n, y, xx, ch]) for xx in xs] for y in ys]
                    if method is PoolMethod.MAX:
                        out[n, oy, ox, ch] = max(max(row) for row in values)
                    elif variant is AverageVariant.TWO_D:
                        out[n, oy, ox, ch] = tdiv(sum(map(sum, values)), len(ys) * len(xs))
                    else:
                        out[n, oy, ox, ch] = tdiv(
                            sum(tdiv(sum(row), len(xs)) for row in values), len(ys)
                        )
    return out


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", ["max", "ave dsp", "ave 2d"])
def test_pooling(case: int, kind: str) -> None:
    rng = np.random.default_rng(300 + case)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    stride = (int(rng.integers(1, kernel[0] + 1)), int(rng.integers(1, kernel[1] + 1)))
    h, w, c = (
        int(rng.integers(kernel[0], 11)),
        int(rng.integers(kernel[1], 11)),
        int(rng.integers(1, 6)),
    )
    x = random_int8(rng, (2, h, w, c))
    method = PoolMethod.MAX if kind == "max" else PoolMethod.AVE
    variant = AverageVariant.TWO_D if kind == "ave 2d" else AverageVariant.DSP
    op = Pool2D(method=method, kernel=kernel, stride=stride)
    np.testing.assert_array_equal(
        q7_reference(op, x, variant), pool_loop(x, kernel, stride, method, variant)
    )


@pytest.mark.parametrize("case", CASES)
def test_softmax_2019(case: int) -> None:
    rng = np.random.default_rng(400 + case)
    x = random_int8(rng, (4, int(rng.integers(1, 16))))
    if case % 3 == 0:
        x = x // 16  # small spreads, where several classes count
    got = q7_reference(Softmax(), x)
    for n in range(x.shape[0]):
        m = max(int(v) for v in x[n])
        total = sum(1 << min(max(int(v) - m + 8, 0), 7) for v in x[n])
        ob = (1 << 20) // total
        expected = [max(-128, min(127, ob >> min(5 + m - int(v), 31))) for v in x[n]]
        assert got[n].tolist() == expected


def test_relu() -> None:
    x = np.array([[-128, -1, 0, 1, 127]])
    assert q7_reference(ReLU(), x).tolist() == [[0, 0, 0, 1, 127]]
