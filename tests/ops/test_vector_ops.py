from nn2mcu.ir import Shape
from nn2mcu.ops import Dropout, Flatten, FullyConnected, ReLU, Softmax


def test_inner_product_on_a_spatial_input() -> None:
    op = FullyConnected(out_features=10)
    x = Shape(4, 4, 32)
    out = op.output_shape([x])
    assert out == Shape(1, 1, 10)
    assert op.weight_shapes([x]) == {"weight": (10, 512), "bias": (10,)}
    assert op.macs([x], out) == 5120


def test_element_wise_and_reshape_ops() -> None:
    x = Shape(4, 4, 32)
    assert ReLU().output_shape([x]) == x
    assert Dropout(ratio=0.3).output_shape([x]) == x
    assert Softmax().output_shape([Shape.vector(10)]) == Shape(1, 1, 10)
    assert Flatten().output_shape([x]) == Shape(1, 1, 512)
    assert ReLU.in_place and Dropout.in_place and Flatten.in_place
    assert not Softmax.in_place
