"""The weight order nn2mcu_fully_connected_s8 reads (four-row blocks), and when its
requantization may take one rounding."""

import numpy as np

from nn2mcu.ops.fully_connected import four_row_blocks, one_rounding


def test_four_row_blocks_of_a_5x6_matrix() -> None:
    m = np.arange(30).reshape(5, 6)  # m[r, c] = 6r + c
    assert four_row_blocks(m).tolist() == [
        0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 18, 19, 20, 21,  # rows 0-3, columns 0-3
        4, 10, 16, 22,  # leftover column 4, rows 0-3
        5, 11, 17, 23,  # leftover column 5
        24, 25, 26, 27, 28, 29,  # the row after the last block
    ]  # fmt: skip


def test_four_row_blocks_reorder_and_keep_every_value() -> None:
    rng = np.random.default_rng(5)
    for rows, columns in [(1, 1), (2, 256), (3, 7), (8, 8), (12, 64), (13, 5)]:
        m = rng.integers(-128, 128, (rows, columns))
        blocked = four_row_blocks(m)
        assert blocked.size == m.size
        assert sorted(blocked.tolist()) == sorted(m.ravel().tolist())
    assert four_row_blocks(np.arange(6).reshape(2, 3)).tolist() == [0, 1, 2, 3, 4, 5]


def test_one_rounding_needs_every_row_below_a_quarter() -> None:
    multiplier = np.array([1 << 30, 1 << 30])
    assert one_rounding(multiplier, np.array([-2, -31]))
    assert not one_rounding(multiplier, np.array([-2, -1]))  # a scale of 1/4 or more
    assert not one_rounding(multiplier, np.array([-32, -5]))
    assert not one_rounding(np.array([-1, 1 << 30]), np.array([-5, -5]))
