import pytest

from nn2mcu.ir import Shape, ShapeError
from nn2mcu.ops import Conv2D
from nn2mcu.ops.conv2d import conv_output_size


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "expected"),
    [
        (32, 5, 1, 2, 32),  # the seed's convolutions keep the size
        (32, 3, 2, 1, 16),  # floor((32 + 2 - 3) / 2) + 1 = 16
        (7, 3, 2, 0, 3),  # floor(4 / 2) + 1
        (8, 3, 3, 0, 2),  # floor(5 / 3) + 1: convolution rounds down
        (5, 5, 1, 0, 1),
    ],
)
def test_output_size(size: int, kernel: int, stride: int, pad: int, expected: int) -> None:
    assert conv_output_size(size, kernel, stride, pad, pad) == expected


def test_seed_conv1_shape_macs_and_weights() -> None:
    op = Conv2D(out_channels=32, kernel=(5, 5), stride=(1, 1), pad=(2, 2, 2, 2))
    x = Shape(32, 32, 3)
    out = op.output_shape([x])
    assert out == Shape(32, 32, 32)
    assert op.macs([x], out) == 32 * 32 * 32 * 5 * 5 * 3 == 2_457_600
    assert op.weight_shapes([x]) == {"weight": (32, 5, 5, 3), "bias": (32,)}


def test_non_square_kernel_stride_and_pad() -> None:
    op = Conv2D(out_channels=4, kernel=(3, 1), stride=(2, 1), pad=(1, 0, 1, 0), bias=False)
    x = Shape(10, 6, 2)
    out = op.output_shape([x])
    # y: floor((10 + 2 - 3) / 2) + 1 = 5; x: floor((6 - 1) / 1) + 1 = 6
    assert out == Shape(5, 6, 4)
    assert op.weight_shapes([x]) == {"weight": (4, 3, 1, 2)}
    assert op.macs([x], out) == 5 * 6 * 4 * 3 * 1 * 2
    assert op.geometry() == "3x1/2,1/1,0"


def test_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ShapeError, match="kernel 5 is larger than the padded input 4"):
        Conv2D(out_channels=1, kernel=(5, 5), pad=(1, 1, 1, 1)).output_shape([Shape(2, 2, 1)])


def test_invalid_attributes() -> None:
    with pytest.raises(ValueError, match="stride"):
        Conv2D(out_channels=1, kernel=(3, 3), stride=(0, 1))
    with pytest.raises(ValueError, match="out_channels"):
        Conv2D(out_channels=0, kernel=(3, 3))
