import numpy as np
import pytest

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import BatchNorm, Conv2D, Input, Pool2D, PoolMethod, ReLU, Scale
from nn2mcu.passes import fold_batchnorm

# conv 1x1, one input channel, two outputs; then BatchNorm (eps 1) and Scale.
CONV = {"weight": np.array([2.0, -1.0]).reshape(2, 1, 1, 1), "bias": np.array([0.5, 1.0])}
BN = {"mean": np.array([1.0, -2.0]), "variance": np.array([3.0, 0.0])}  # inv std 0.5, 1
SCALE = {"scale": np.array([3.0, 2.0]), "bias": np.array([1.0, -1.0])}


def graph_with(*extra: Layer) -> Graph:
    return Graph(
        "g",
        (
            Layer("in", Input(shape=Shape(2, 2, 1))),
            Layer("conv", Conv2D(out_channels=2, kernel=(1, 1)), ("in",), CONV),
            *extra,
        ),
    )


def test_batchnorm_and_scale_fold_to_literal_values() -> None:
    graph = graph_with(
        Layer("bn", BatchNorm(eps=1.0), ("conv",), BN),
        Layer("scale", Scale(bias=True), ("bn",), SCALE),
        Layer("relu", ReLU(), ("scale",)),
    )
    folded = fold_batchnorm(graph)
    assert [layer.name for layer in folded] == ["in", "conv", "relu"]
    assert folded.layer("relu").inputs == ("conv",)
    conv = folded.layer("conv")
    # channel 0: x * 1.5 - 0.5 -> w 3.0, b 0.25; channel 1: x * 2 + 3 -> w -2.0, b 5.0
    np.testing.assert_array_equal(conv.weights["weight"].ravel(), [3.0, -2.0])
    np.testing.assert_array_equal(conv.weights["bias"], [0.25, 5.0])


def test_batchnorm_alone_adds_a_bias_to_a_conv_without_one() -> None:
    graph = Graph(
        "g",
        (
            Layer("in", Input(shape=Shape(2, 2, 1))),
            Layer(
                "conv",
                Conv2D(out_channels=2, kernel=(1, 1), bias=False),
                ("in",),
                {"weight": CONV["weight"]},
            ),
            Layer("bn", BatchNorm(eps=1.0), ("conv",), BN),
        ),
    )
    folded = fold_batchnorm(graph)
    conv = folded.layer("conv")
    assert conv.op == Conv2D(out_channels=2, kernel=(1, 1), bias=True)
    np.testing.assert_array_equal(conv.weights["weight"].ravel(), [1.0, -1.0])
    np.testing.assert_array_equal(conv.weights["bias"], [-0.5, 2.0])
    assert folded.outputs == ("conv",)


def test_batchnorm_after_pooling_is_refused() -> None:
    graph = graph_with(
        Layer("pool", Pool2D(method=PoolMethod.MAX, kernel=(2, 2), stride=(2, 2)), ("conv",)),
        Layer("bn", BatchNorm(eps=1.0), ("pool",), BN),
    )
    with pytest.raises(InputError, match="BatchNorm 'bn' follows Pooling 'pool'"):
        fold_batchnorm(graph)


def test_batchnorm_on_a_shared_output_is_refused() -> None:
    graph = graph_with(
        Layer("bn", BatchNorm(eps=1.0), ("conv",), BN),
        Layer("relu", ReLU(), ("conv",)),
    )
    with pytest.raises(InputError, match="also read by 'relu'"):
        fold_batchnorm(graph)
