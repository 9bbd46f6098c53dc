"""Known answers of CMSIS-NN's s8 requantization (v7.0.0 semantics), worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nn2mcu.s8.arithmetic import (
    divide_by_power_of_two,
    doubling_high_mult_no_sat,
    quantize_multiplier,
    requantize,
    wrap32,
)

HALF = 1 << 30  # 0.5 in Q31


@pytest.mark.parametrize(
    ("m1", "m2", "expected"),
    [
        (100, HALF, 50),  # (2^30 + 100 * 2^30) >> 31
        (101, HALF, 51),  # 50.5: the tie goes up
        (-101, HALF, -50),  # -50.5: up again, towards +infinity
        (-100, HALF, -50),
        (1, 1, 0),  # (1 + 2^30) >> 31
        ((1 << 31) - 1, (1 << 31) - 1, (1 << 31) - 2),
        (-(1 << 31), -(1 << 31), -(1 << 31)),  # 2^31 wraps: the unsaturated case
    ],
)
def test_doubling_high_mult(m1: int, m2: int, expected: int) -> None:
    assert int(doubling_high_mult_no_sat(m1, m2)) == expected


@pytest.mark.parametrize(
    ("dividend", "exponent", "expected"),
    [
        (1, 1, 1),  # 0.5 -> 1
        (-1, 1, -1),  # -0.5 -> -1: away from zero
        (-3, 1, -2),  # -1.5 -> -2
        (3, 1, 2),  # 1.5 -> 2
        (5, 2, 1),  # 1.25 -> 1
        (-5, 2, -1),  # -1.25 -> -1
        (-6, 2, -2),  # -1.5 -> -2
        (6, 2, 2),  # 1.5 -> 2
        (-1, 2, 0),  # -0.25 -> 0
        (7, 0, 7),
        (-(1 << 31), 31, -1),
    ],
)
def test_divide_by_power_of_two(dividend: int, exponent: int, expected: int) -> None:
    assert int(divide_by_power_of_two(dividend, exponent)) == expected


@pytest.mark.parametrize(
    ("value", "multiplier", "shift", "default", "single"),
    [
        (100, HALF, 0, 50, 50),
        (101, HALF, 0, 51, 51),  # 50.5
        (-101, HALF, 0, -50, -50),  # -50.5: both round the tie up
        (3, HALF, 2, 6, 6),  # 3 * 0.5 * 4, a left shift first
        (-3, HALF, -1, -1, -1),  # -0.75
        (5, HALF, -2, 1, 1),  # 0.625
        (1, HALF, -1, 1, 0),  # 0.25: the doubling step rounds 0.5 up to 1, then 1/2 -> 1
        (-7, HALF, -2, -1, -1),  # -0.875
        (-5, HALF, -2, -1, -1),  # -0.625
        (-3, HALF, -2, 0, 0),  # -0.375: -1.5 -> -1 (ties up), then -0.25 -> 0
        (12345, 1518500250, -7, 68, 68),  # 12345 * 0.7071... / 128 = 68.19
    ],
)
def test_requantize(value: int, multiplier: int, shift: int, default: int, single: int) -> None:
    assert int(requantize(value, multiplier, shift)) == default
    assert int(requantize(value, multiplier, shift, single_rounding=True)) == single


def test_requantize_per_channel_broadcasts() -> None:
    values = np.array([[100, 101], [-3, 1]])  # channels along the last axis
    result = requantize(values, np.array([HALF, HALF]), np.array([0, -1]))
    # 50; 101 * 0.5 = 50.5 -> 51, / 2 = 25.5 -> 26; -1.5 -> -1 (ties up); 0.5 -> 1, / 2 -> 1
    assert result.tolist() == [[50, 26], [-1, 1]]


@pytest.mark.parametrize(
    ("scale", "multiplier", "shift"),
    [
        (0.5, 1 << 30, 0),
        (1.0, 1 << 30, 1),
        (0.25, 1 << 30, -1),
        (0.75, 1610612736, 0),  # 0.75 * 2^31
        (1 / 3, 1431655765, -1),  # round(2/3 * 2^31)
        (0.0, 0, 0),
        (2.0**-40, 0, 0),  # below 2^-32: zero
        (1 - 2.0**-40, 1 << 30, 1),  # q * 2^31 rounds to 2^31: carried into the shift
    ],
)
def test_quantize_multiplier(scale: float, multiplier: int, shift: int) -> None:
    assert quantize_multiplier(scale) == (multiplier, shift)
    if multiplier:
        assert math.isclose(multiplier * 2.0 ** (shift - 31), scale, rel_tol=2**-30)


def test_quantize_multiplier_refuses_out_of_range() -> None:
    for scale in (-1.0, math.inf, 2.0**31):
        with pytest.raises(ValueError):
            quantize_multiplier(scale)


def test_wrap32() -> None:
    assert wrap32([1 << 31, -(1 << 31) - 1, 5]).tolist() == [-(1 << 31), (1 << 31) - 1, 5]
