"""Known answers from shared/reference/seed-workflow.md, written as literals."""

import numpy as np

from nn2mcu.ops import Conv2D, Pool2D, PoolMethod, Softmax
from nn2mcu.ops.fully_connected import x4_interleave
from nn2mcu.q7.arithmetic import nn_round
from nn2mcu.q7.formats import layer_shifts
from nn2mcu.q7.model import AverageVariant, SoftmaxVersion
from tests.references import q7_reference


def nhwc(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(1, len(rows), len(rows[0]), 1)


def test_average_pool_dsp_and_2d_paths_differ_by_one() -> None:
    window = nhwc([[3, 3, 2], [3, 3, 2], [1, 1, 0]])
    pool = Pool2D(method=PoolMethod.AVE, kernel=(3, 3), stride=(2, 2))
    assert q7_reference(pool, window, AverageVariant.DSP).ravel().tolist() == [1]
    assert q7_reference(pool, window, AverageVariant.TWO_D).ravel().tolist() == [2]


def test_negative_averages_truncate_toward_zero() -> None:
    assert (-5) // 3 == -2  # numpy and Python floor; C truncates to -1
    pool = Pool2D(method=PoolMethod.AVE, kernel=(1, 3), stride=(1, 3))
    assert q7_reference(pool, nhwc([[-2, -2, -1]]), AverageVariant.TWO_D).ravel().tolist() == [-1]
    assert q7_reference(pool, nhwc([[-2, -2, -1]]), AverageVariant.DSP).ravel().tolist() == [-1]


def test_softmax_single_dominant_class_gives_127() -> None:
    logits = np.array([[-100, -90, 120, -100, -128, 0, -50, -60, -70, -80]])
    for version in SoftmaxVersion:
        out = q7_reference(Softmax(), logits, version).ravel().tolist()
        assert out[2] == 127, version
    # V2019: e = 7 for the max, 0 elsewhere: 2**20 // (128 + 9) = 7653, >> 5 = 239 -> 127
    assert q7_reference(Softmax(), logits).ravel().tolist() == [0, 0, 127, 0, 0, 0, 0, 0, 0, 0]


def test_nn_round_of_zero_adds_nothing() -> None:
    assert nn_round(0) == 0 and nn_round(1) == 1 and nn_round(11) == 1024
    conv = Conv2D(out_channels=1, kernel=(1, 1))
    x = nhwc([[3, -3]])
    weight = np.array([[[[1]]]])
    assert q7_reference(
        conv, x, weight, np.array([0]), bias_shift=0, out_shift=0
    ).ravel().tolist() == [3, -3]
    # out_shift 1: (3 + 1) >> 1 = 2, (-3 + 1) >> 1 = -1 (round half up, arithmetic shift)
    assert q7_reference(
        conv, x, weight, np.array([0]), bias_shift=0, out_shift=1
    ).ravel().tolist() == [2, -1]


def test_x4_interleave_of_a_4x4_matrix() -> None:
    m = np.arange(16).reshape(4, 4)  # m[r, c] = 4r + c
    # r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3
    assert x4_interleave(m).tolist() == [0, 4, 2, 6, 8, 12, 10, 14, 1, 5, 3, 7, 9, 13, 11, 15]


def test_x4_interleave_leftover_columns_and_rows() -> None:
    m = np.arange(30).reshape(5, 6)  # m[r, c] = 6r + c
    assert x4_interleave(m).tolist() == [
        0, 6, 2, 8, 12, 18, 14, 20, 1, 7, 3, 9, 13, 19, 15, 21,  # rows 0-3, columns 0-3
        4, 10, 16, 22,  # leftover column 4
        5, 11, 17, 23,  # leftover column 5
        24, 25, 26, 27, 28, 29,  # leftover row 4, row-major
    ]  # fmt: skip


def test_arm_m4_shifts_from_its_formats() -> None:
    # seed-workflow.md 1.6, MLEX m4: input Q7.0; conv1 wt 8 bias 8 act -3; conv2 wt 9 bias 6
    # act -2 (input: conv1's -3 through max pool and ReLU); conv3 wt 9 bias 7 act -1 (input:
    # pool2, -2); ip1 wt 11 bias 5 act 3 (input: pool3, -1)
    shifts = [
        layer_shifts(0, 8, 8, -3), layer_shifts(-3, 9, 6, -2),
        layer_shifts(-2, 9, 7, -1), layer_shifts(-1, 11, 5, 3),
    ]  # fmt: skip
    assert [(s.bias_shift, s.out_shift) for s in shifts] == [(0, 11), (0, 8), (0, 8), (5, 7)]
