"""Known answers of the s8 kernel models (nn2mcu.s8.kernels), worked by hand. The full
comparison with CMSIS-NN is test_kernels_vs_cmsis_nn.py (when CMSIS_NN_ROOT is set)."""

from __future__ import annotations

import numpy as np

from nn2mcu.s8.kernels import conv_s8, depthwise_conv_s8, fully_connected_s8, pool_s8

HALF, ONE = (1 << 30, 0), (1 << 30, 1)  # (multiplier, shift) for scales 0.5 and 1.0


def test_fully_connected() -> None:
    # 10 + (1 + 1) * 3 + (2 + 1) * 4 = 28; * 0.5 = 14; - 3 = 11
    x = np.array([[1, 2]], np.int8)
    out = fully_connected_s8(x, np.array([[3, 4]]), np.array([10]), input_offset=1,
                             output_offset=-3, multiplier=HALF[0], shift=HALF[1])  # fmt: skip
    assert out.tolist() == [[11]]


def test_fully_connected_clamps_to_the_activation_range() -> None:
    x = np.array([[100, 100]], np.int8)
    out = fully_connected_s8(x, np.array([[1, 1], [-1, -1]]), None, input_offset=0,
                             output_offset=0, multiplier=[ONE[0]] * 2, shift=[ONE[1]] * 2,
                             activation=(-20, 50))  # fmt: skip
    assert out.tolist() == [[50, -20]]


def test_padding_contributes_zero_not_the_offset() -> None:
    # a 1x1 image, a 3x3 filter of ones, pad 1: only the centre tap is inside
    x = np.full((1, 1, 1, 1), 5, np.int8)
    out = conv_s8(x, np.ones((1, 3, 3, 1)), None, stride=(1, 1), pad=(1, 1, 1, 1), input_offset=2,
                  output_offset=0, multiplier=[ONE[0]], shift=[ONE[1]])  # fmt: skip
    assert out.tolist() == [[[[7]]]]


def test_per_channel_requantization() -> None:
    x = np.array([[[[10]]]], np.int8)
    weight = np.array([[[[3]]], [[[3]]]])  # two 1x1 filters
    out = conv_s8(x, weight, np.array([0, 1]), stride=(1, 1), pad=(0, 0, 0, 0), input_offset=0,
                  output_offset=0, multiplier=[HALF[0], ONE[0]], shift=[HALF[1], ONE[1]])  # fmt: skip
    assert out.tolist() == [[[[15, 31]]]]  # 30 * 0.5; 31 * 1.0


def test_depthwise() -> None:
    x = np.array([[[[1, 2]]]], np.int8)
    out = depthwise_conv_s8(x, np.array([[[[3, -4]]]]), None, stride=(1, 1), pad=(0, 0, 0, 0),
                            input_offset=0, output_offset=0, multiplier=[ONE[0]] * 2,
                            shift=[ONE[1]] * 2)  # fmt: skip
    assert out.tolist() == [[[[3, -8]]]]


def test_average_pool_rounds_half_away_from_zero() -> None:
    x = np.array([[[[-3], [-2], [3], [2], [1], [-2]]]], np.int8)  # 1 x 1 x 6 x 1
    out = pool_s8(x, kernel=(1, 2), stride=(1, 2), pad=(0, 0, 0, 0), out_shape=(1, 3), average=True)
    assert out.ravel().tolist() == [-3, 3, -1]  # -2.5, 2.5, -0.5


def test_average_pool_divides_by_the_in_bounds_count() -> None:
    x = np.array([[[[4], [8]]]], np.int8)  # 1 x 1 x 2 x 1, window 1x3 with pad 1
    out = pool_s8(x, kernel=(1, 3), stride=(1, 1), pad=(0, 1, 0, 1), out_shape=(1, 2), average=True)
    assert out.ravel().tolist() == [6, 6]  # (4 + 8) / 2, not / 3


def test_max_pool_and_activation() -> None:
    x = np.array([[[[-100], [-50]]]], np.int8)
    kwargs = {"kernel": (1, 2), "stride": (1, 2), "pad": (0, 0), "out_shape": (1, 1)}
    assert pool_s8(x, average=False, **kwargs).ravel().tolist() == [-50]  # type: ignore[arg-type]
    clamped = pool_s8(x, average=False, activation=(-40, 127), **kwargs)  # type: ignore[arg-type]
    assert clamped.ravel().tolist() == [-40]
