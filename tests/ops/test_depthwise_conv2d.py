from nn2mcu.ir import Shape
from nn2mcu.ops import DepthwiseConv2D


def test_shape_weights_and_macs() -> None:
    op = DepthwiseConv2D(kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1))
    x = Shape(16, 16, 8)
    out = op.output_shape([x])
    assert out == Shape(8, 8, 8)
    assert op.weight_shapes([x]) == {"weight": (1, 3, 3, 8), "bias": (8,)}
    assert op.macs([x], out) == 8 * 8 * 8 * 9
