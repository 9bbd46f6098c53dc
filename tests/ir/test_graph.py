import numpy as np
import pytest

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import Conv2D, Flatten, FullyConnected, Input, ReLU


def small_graph(**conv_weights: np.ndarray) -> Graph:
    return Graph(
        name="g",
        layers=(
            Layer("in", Input(shape=Shape(4, 4, 2))),
            Layer("conv", Conv2D(out_channels=3, kernel=(3, 3)), ("in",), conv_weights),
            Layer("relu", ReLU(), ("conv",)),
            Layer("flat", Flatten(), ("relu",)),
            Layer("fc", FullyConnected(out_features=5), ("flat",)),
        ),
    )


def test_shapes_outputs_and_lookup() -> None:
    graph = small_graph()
    assert graph.shapes["conv"] == Shape(2, 2, 3)
    assert graph.shapes["flat"] == Shape(1, 1, 12)
    assert graph.outputs == ("fc",)
    assert [layer.name for layer in graph.consumers("conv")] == ["relu"]
    assert not graph.has_weights


def test_flatten_source_walks_back_to_the_spatial_tensor() -> None:
    graph = small_graph()
    assert graph.flatten_source("flat") == Shape(2, 2, 3)
    assert graph.flatten_source("relu") == Shape(2, 2, 3)
    assert graph.flatten_source("fc") == Shape(1, 1, 5)


def test_weights_are_checked_and_frozen() -> None:
    weight = np.zeros((3, 3, 3, 2), dtype=np.float32)
    graph = small_graph(weight=weight, bias=np.zeros(3))
    stored = graph.layer("conv").weights["weight"]
    assert stored.dtype == np.float32
    assert not stored.flags.writeable
    weight[0, 0, 0, 0] = 1  # the graph holds its own copy
    assert stored[0, 0, 0, 0] == 0
    with pytest.raises(
        InputError, match=r"weight has shape \[3, 3, 3, 3\], expected \[3, 3, 3, 2\]"
    ):
        small_graph(weight=np.zeros((3, 3, 3, 3)), bias=np.zeros(3))
    with pytest.raises(
        InputError, match=r"has weights \['weight'\], expected \['bias', 'weight'\]"
    ):
        small_graph(weight=np.zeros((3, 3, 3, 2)))


def test_structural_errors() -> None:
    with pytest.raises(InputError, match="reads 'x', which no earlier layer produces"):
        Graph("g", (Layer("relu", ReLU(), ("x",)),))
    with pytest.raises(InputError, match="'a' is used twice"):
        Graph("g", (Layer("a", Input(shape=Shape(1, 1, 1))), Layer("a", ReLU(), ("a",))))
    with pytest.raises(InputError, match=r"layer 'c' \(Convolution\): kernel 5 is larger"):
        Graph(
            "g",
            (
                Layer("a", Input(shape=Shape(2, 2, 1))),
                Layer("c", Conv2D(out_channels=1, kernel=(5, 5)), ("a",)),
            ),
        )
    with pytest.raises(InputError, match="graph output 'nope' is not a layer"):
        Graph("g", (Layer("a", Input(shape=Shape(1, 1, 1))),), outputs=("nope",))


def test_layer_equality_compares_weight_values() -> None:
    weights = {"weight": np.ones((3, 3, 3, 2)), "bias": np.zeros(3)}
    assert small_graph(**weights) == small_graph(**weights)
    other = {"weight": np.ones((3, 3, 3, 2)), "bias": np.ones(3)}
    assert small_graph(**weights) != small_graph(**other)
    assert small_graph(**weights) != small_graph()
    assert hash(small_graph(**weights).layer("conv")) == hash(small_graph(**other).layer("conv"))
