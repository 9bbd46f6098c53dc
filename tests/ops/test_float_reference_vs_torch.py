"""Each operator's float reference (NHWC, numpy) equals its PyTorch module (NCHW) to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nn2mcu.frontends.caffe import InputShapeSources, load_net
from nn2mcu.ir import Graph, Layer, Op, Shape
from nn2mcu.ops import (
    BatchNorm,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    ReLU,
    Scale,
    Softmax,
)
from nn2mcu.reference import float_forward
from nn2mcu.torch_net import TorchNet
from tests.conftest import EXAMPLE_NET

CASES: list[tuple[str, Op, Shape]] = [
    ("conv", Conv2D(out_channels=5, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1)), Shape(7, 6, 3)),
    ("conv nonsquare", Conv2D(out_channels=4, kernel=(3, 1), stride=(2, 1), pad=(1, 0, 1, 0)), Shape(9, 5, 4)),
    ("conv no bias", Conv2D(out_channels=2, kernel=(2, 2), stride=(2, 2), bias=False), Shape(6, 6, 3)),
    ("depthwise", DepthwiseConv2D(kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1)), Shape(8, 7, 6)),
    ("max ceil", Pool2D(method=PoolMethod.MAX, kernel=(3, 3), stride=(2, 2)), Shape(32, 32, 4)),
    ("ave ceil", Pool2D(method=PoolMethod.AVE, kernel=(3, 3), stride=(2, 2)), Shape(16, 16, 3)),
    ("ave padded", Pool2D(method=PoolMethod.AVE, kernel=(2, 2), stride=(2, 2), pad=(1, 1, 1, 1)), Shape(5, 5, 2)),
    ("max padded", Pool2D(method=PoolMethod.MAX, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1)), Shape(6, 7, 2)),
    ("ave big pad", Pool2D(method=PoolMethod.AVE, kernel=(3, 3), stride=(2, 2), pad=(2, 2, 2, 2)), Shape(7, 7, 2)),
    ("max big pad", Pool2D(method=PoolMethod.MAX, kernel=(3, 3), stride=(1, 2), pad=(2, 2, 2, 2)), Shape(5, 6, 2)),
    ("ave floor", Pool2D(method=PoolMethod.AVE, kernel=(3, 3), stride=(2, 2), ceil_mode=False), Shape(8, 8, 2)),
    ("ave nonsquare", Pool2D(method=PoolMethod.AVE, kernel=(2, 3), stride=(1, 2)), Shape(5, 8, 2)),
    ("relu", ReLU(), Shape(4, 4, 3)),
    ("dropout", Dropout(ratio=0.5), Shape(4, 4, 3)),
    ("flatten", Flatten(), Shape(3, 2, 4)),
    ("inner product spatial", FullyConnected(out_features=7), Shape(3, 2, 4)),
    ("inner product vector", FullyConnected(out_features=3, bias=False), Shape(1, 1, 9)),
    ("softmax", Softmax(), Shape(1, 1, 10)),
    ("softmax spatial", Softmax(), Shape(2, 3, 5)),
    ("batch norm", BatchNorm(eps=1e-3), Shape(3, 3, 4)),
    ("scale", Scale(bias=True), Shape(3, 3, 4)),
]  # fmt: skip


def assert_close(got: np.ndarray, expected: np.ndarray, name: str = "") -> None:
    """Equal to 1e-5 of the tensor's range (float32 cannot do better on large values)."""
    assert got.shape == expected.shape, name
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(got - expected).max())
    assert error <= 1e-5 * scale, f"{name}: max error {error:.3g} at range {scale:.3g}"


def random_weights(op: Op, x: Shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
    weights = {name: rng.standard_normal(shape) for name, shape in op.weight_shapes([x]).items()}
    if "variance" in weights:
        weights["variance"] = np.abs(weights["variance"]) + 0.1
    return weights


@pytest.mark.parametrize(("label", "op", "x"), CASES, ids=[case[0] for case in CASES])
def test_operator(label: str, op: Op, x: Shape) -> None:
    rng = np.random.default_rng(7)
    graph = Graph(
        "one",
        (
            Layer("in", Input(shape=x)),
            Layer("op", op, ("in",), random_weights(op, x, rng)),
        ),
    )
    batch = rng.standard_normal((3, x.h, x.w, x.c)).astype(np.float32)
    expected = float_forward(graph, batch)["op"]
    assert expected.shape[1:] == (graph.shapes["op"].h, graph.shapes["op"].w, graph.shapes["op"].c)
    net = TorchNet(graph).eval()
    with torch.no_grad():
        got = net(torch.from_numpy(batch.transpose(0, 3, 1, 2)))["op"]
    assert_close(net.to_nhwc("op", got), expected)


def test_seed_network() -> None:
    graph = load_net(EXAMPLE_NET, sources=InputShapeSources(explicit=(3, 32, 32)))
    rng = np.random.default_rng(3)
    layers = []
    for layer in graph.layers:
        shapes = layer.op.weight_shapes(graph.input_shapes(layer))
        weights = {name: rng.standard_normal(shape) * 0.05 for name, shape in shapes.items()}
        layers.append(Layer(layer.name, layer.op, layer.inputs, weights))
    graph = Graph(graph.name, tuple(layers), graph.outputs)
    batch = rng.uniform(-128, 128, (4, 32, 32, 3)).astype(np.float32)
    expected = float_forward(graph, batch)
    net = TorchNet(graph).eval()
    with torch.no_grad():
        got = net(torch.from_numpy(batch.transpose(0, 3, 1, 2)), outputs=net.names)
    for name in net.names:
        assert_close(net.to_nhwc(name, got[name]), expected[name], name)
    assert np.abs(expected["ip1"]).max() > 1  # a real signal, not all zeros


def test_trained_parameters_come_back_into_the_graph() -> None:
    graph = load_net(EXAMPLE_NET, sources=InputShapeSources(explicit=(3, 32, 32)))
    net = TorchNet(graph)
    with torch.no_grad():
        for _, _, parameter in net.learnable():
            parameter.normal_()
    back = net.to_graph()
    assert back.has_weights
    again = TorchNet(back)
    for (_, _, a), (_, _, b) in zip(net.learnable(), again.learnable(), strict=True):
        assert torch.equal(a, b)
    assert [(layer, name) for layer, name, _ in net.learnable()] == [
        ("conv1", "weight"), ("conv1", "bias"), ("conv2", "weight"), ("conv2", "bias"),
        ("conv3", "weight"), ("conv3", "bias"), ("ip1", "weight"), ("ip1", "bias"),
    ]  # fmt: skip
