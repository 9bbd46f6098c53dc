"""The integers TFLM derives, pinned on cases where the rule decides the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from nn2mcu.frontends.tflite import derive
from nn2mcu.ops.mean import mean_multiplier
from nn2mcu.s8.arithmetic import quantize_multiplier


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (49, 10, 2, (25, 4, 5)),  # KWS's first convolution, rows: (4, 5)
        (10, 4, 2, (5, 1, 1)),  # and columns: (1, 1)
        (96, 3, 2, (48, 0, 1)),  # VWW's stride-2 convolutions on even sizes: (0, 1)
        (7, 3, 2, (4, 1, 1)),  # odd size, stride 2
        (8, 1, 2, (4, 0, 0)),  # a 1x1 projection: no padding
        (5, 3, 1, (5, 1, 1)),
    ],
)
def test_same_padding(size: int, kernel: int, stride: int, expected: tuple[int, int, int]) -> None:
    assert derive.same_padding(size, kernel, stride) == expected


def test_fully_connected_multiplies_the_scales_in_float32() -> None:
    s_in, s_w, s_out = (float(np.float32(v)) for v in (0.1028525, 0.19014227, 0.029687762))
    in_double = quantize_multiplier(s_in * s_w / s_out)
    assert in_double == (1414640026, 0)
    assert derive.fully_connected_multiplier(s_in, s_w, s_out) == (1414640000, 0)


def test_per_channel_multipliers_are_in_double() -> None:
    s_in, s_out = float(np.float32(0.1028525)), float(np.float32(0.029687762))
    scales = np.asarray([0.19014227, 0.5], np.float32)
    multiplier, shift = derive.per_channel_multipliers(s_in, scales, s_out, 2)
    assert (int(multiplier[0]), int(shift[0])) == (1414640026, 0)
    broadcast, _ = derive.per_channel_multipliers(s_in, scales[:1], s_out, 3)
    assert broadcast.tolist() == [1414640026] * 3


@pytest.mark.parametrize(
    ("activation", "scale", "zero_point", "expected"),
    [
        (derive.NONE, 0.05, 3, (-128, 127)),
        (derive.RELU, 0.05, -128, (-128, 127)),
        (derive.RELU, 0.05, 10, (10, 127)),
        (derive.RELU6, 0.05, -128, (-128, -8)),  # round(6 / 0.05) = 120
        (derive.RELU6, 6 / 255, -128, (-128, 127)),
        (derive.RELU_N1_TO_1, 1 / 64, 0, (-64, 64)),
        (derive.RELU6, 0.0125, -128, (-128, 127)),  # 480 steps: capped at 127
    ],
)
def test_activation_ranges(
    activation: int, scale: float, zero_point: int, expected: tuple[int, int]
) -> None:
    assert derive.activation_range(activation, scale, zero_point) == expected


def test_activation_rounds_a_float32_quotient_half_away() -> None:
    # 6 / 0.48 is 12.5 in float32: half away from zero gives 13, not numpy's even 12
    assert derive.activation_range(derive.RELU6, 0.48, 0) == (0, 13)


def test_bias_scale_error() -> None:
    assert derive.bias_scale_error(0.5, 0.25, 0.125, 1.0) == 0.0
    assert derive.bias_scale_error(0.5, 0.25, 0.1, 0.5) == pytest.approx(0.05)


def test_mean_multiplier_folds_the_count() -> None:
    multiplier, shift = quantize_multiplier(0.5)
    folded, folded_shift = mean_multiplier(1.0, 2.0, 9)
    bits = 3  # floor(log2 9)
    assert folded == (multiplier << bits) // 9 and folded_shift == shift - bits


def test_mean_multiplier_keeps_the_shift_at_least_minus_31() -> None:
    # s_in / s_out = 2^-30 gives shift -29; 1,024 cells would take 10 more bits
    folded, shift = mean_multiplier(2.0**-30, 1.0, 1024)
    assert shift == -31 and folded == (1 << 30) * 4 // 1024
