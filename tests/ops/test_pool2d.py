import pytest

from nn2mcu.ir import Shape, ShapeError
from nn2mcu.ops import Pool2D, PoolMethod


def pool(kernel: int, stride: int, pad: int = 0, *, ceil_mode: bool = True) -> Pool2D:
    return Pool2D(
        method=PoolMethod.AVE,
        kernel=(kernel, kernel),
        stride=(stride, stride),
        pad=(pad, pad, pad, pad),
        ceil_mode=ceil_mode,
    )


def test_caffe_ceil_mode_32_16_8_4() -> None:
    # ceil((32 - 3) / 2) + 1 = 16, ceil(13 / 2) + 1 = 8, ceil(5 / 2) + 1 = 4
    sizes = [32]
    op = pool(3, 2)
    for _ in range(3):
        sizes.append(op.output_shape([Shape(sizes[-1], sizes[-1], 8)]).h)
    assert sizes == [32, 16, 8, 4]


def test_last_window_starting_in_padding_is_dropped() -> None:
    # ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at 3 * 2 - 1 = 5 >= 5: gives 3
    assert pool(2, 2, 1).output_shape([Shape(5, 5, 1)]) == Shape(3, 3, 1)


def test_padding_that_keeps_the_last_window() -> None:
    # ceil((6 + 2 - 3) / 2) + 1 = 4; last window starts at 3 * 2 - 1 = 5 < 6 + 1: kept
    assert pool(3, 2, 1).output_shape([Shape(6, 6, 1)]) == Shape(4, 4, 1)


def test_floor_mode() -> None:
    assert pool(3, 2, ceil_mode=False).output_shape([Shape(32, 32, 1)]) == Shape(15, 15, 1)


def test_non_square_and_global() -> None:
    op = Pool2D(method=PoolMethod.MAX, kernel=(2, 3), stride=(2, 3))
    assert op.output_shape([Shape(4, 9, 5)]) == Shape(2, 3, 5)
    assert op.geometry() == "MAX 2x3/2,3/0"
    whole = Pool2D(method=PoolMethod.AVE, kernel=(7, 5))
    assert whole.output_shape([Shape(7, 5, 16)]) == Shape(1, 1, 16)


def test_pooling_counts_no_macs_and_no_weights() -> None:
    op = pool(3, 2)
    x = Shape(32, 32, 32)
    assert op.macs([x], op.output_shape([x])) == 0
    assert op.weight_shapes([x]) == {}


def test_errors() -> None:
    with pytest.raises(ValueError, match="pad 3 must be smaller than kernel 3"):
        pool(3, 1, 3)
    with pytest.raises(ShapeError, match="larger than the padded input"):
        pool(5, 1).output_shape([Shape(3, 3, 1)])


def test_windows_past_the_input_are_refused() -> None:
    # ceil((5 - 1) / 3) + 1 = 3 windows starting at 0, 3, 6: the last one is empty
    with pytest.raises(ShapeError, match="the last window starts at 6, past the input of size 5"):
        pool(1, 3).output_shape([Shape(5, 5, 1)])
