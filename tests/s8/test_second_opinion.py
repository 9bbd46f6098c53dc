"""A second opinion on the s8 simulator from an independent int8 runtime: every layer of
small s8 models rebuilt as an ONNX QDQ graph (DequantizeLinear -> float op -> [Relu] ->
QuantizeLinear, per-channel weight scales on axis 0, int32 biases with scale
s_in * s_w) and run by onnxruntime on the simulator's own input to that layer.

Where the rounding rule is the same (max pooling: no rounding at all) the bytes must be
equal. Elsewhere the rules differ and the outputs must agree within 1 LSB:
- onnxruntime requantizes in float and rounds ties to even; CMSIS-NN multiplies by a
  Q31 multiplier, shifts and rounds ties away from zero (arm_nn_requantize);
- average pooling: onnxruntime divides in float (ties to even), arm_avgpool_s8 in
  integers (ties away from zero);
- the input: QuantizeLinear of (p - M) * 2^k in float against requantize(p - M).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nn2mcu.ir import Layer
from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    ReLU,
    Softmax,
)
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.s8.model import S8Model
from nn2mcu.simulate import simulate
from tests.codegen.test_random_nets import dataset_for, random_net

OPSET = 19
SEEDS = (0, 1, 2, 3)
REQUANTIZE = "requantize: float, ties to even (onnxruntime) vs Q31 multiplier, ties away (CMSIS-NN)"
AVERAGE = "average: float, ties to even (onnxruntime) vs integer, ties away (arm_avgpool_s8)"
INPUT = "input: QuantizeLinear in float, ties to even vs requantize(p - M)"
SAME = "no rounding: must be equal"
SOFTMAX = "softmax: float exp (onnxruntime) vs fixed-point exp and reciprocal (arm_softmax_s8)"


@dataclass(frozen=True)
class Opinion:
    layer: str
    rule: str
    elements: int
    different: int
    largest: int
    off_ties: int = 0  # average pooling: differences where the exact average is no tie


def _tensor(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(values, name)


def _run(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], x: np.ndarray,
         x_type: int, y_shape: tuple[int, ...]) -> np.ndarray:  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "layer",
        [helper.make_tensor_value_info("x", x_type, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.INT8, list(y_shape))],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["y"], {"x": x})[0])


def _float_session(
    nodes: list[onnx.NodeProto], shape: tuple[int, ...], y_shape: tuple[int, ...]
) -> ort.InferenceSession:
    graph = helper.make_graph(
        nodes,
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _qdq(
    model: S8Model, layer: Layer, core: Callable[[str, str], list[onnx.NodeProto]],
    inits: list[onnx.TensorProto], relu: bool,
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:  # fmt: skip
    """x -> DequantizeLinear -> core -> [Relu] -> QuantizeLinear -> y"""
    source = model.tensors[layer.inputs[0]]
    out = model.tensors[layer.name]
    inits = [
        *inits,
        _tensor("x_scale", np.float32(source.scale)),
        _tensor("x_zp", np.int8(source.zero_point)),
        _tensor("y_scale", np.float32(out.scale)),
        _tensor("y_zp", np.int8(out.zero_point)),
    ]
    nodes = [helper.make_node("DequantizeLinear", ["x", "x_scale", "x_zp"], ["xf"])]
    nodes += core("xf", "yf")
    last = "yf"
    if relu:
        nodes.append(helper.make_node("Relu", ["yf"], ["yr"]))
        last = "yr"
    nodes.append(helper.make_node("QuantizeLinear", [last, "y_scale", "y_zp"], ["y"]))
    return nodes, inits


def _weights(model: S8Model, layer: Layer, weight: np.ndarray) -> list[onnx.TensorProto]:
    q = model.weighted[layer.name]
    source = model.tensors[layer.inputs[0]]
    channels = len(q.weight_scales)
    return [
        _tensor("w_q", weight.astype(np.int8)),
        _tensor("w_scale", q.weight_scales.astype(np.float32)),
        _tensor("w_zp", np.zeros(channels, np.int8)),
        _tensor("b_q", q.bias.astype(np.int32)),
        _tensor("b_scale", (source.scale * q.weight_scales).astype(np.float32)),
        _tensor("b_zp", np.zeros(channels, np.int32)),
    ]


def _dequantized_weights() -> list[onnx.NodeProto]:
    return [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wf"], axis=0),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bf"], axis=0),
    ]


def layer_opinion(model: S8Model, layer: Layer, values: dict[str, np.ndarray],
                  pixels: np.ndarray) -> Opinion | None:  # fmt: skip
    """onnxruntime's output of one layer on the simulator's input to it, against the
    simulator's output."""
    op = layer.op
    ours = values[layer.name]
    n, h, w, c = ours.shape
    nchw, flat = (n, c, h, w), (n, h * w * c)
    if isinstance(op, Input):
        params = model.tensors[layer.name]
        x = ((pixels.astype(np.float64) - model.mean) * 2.0**model.scale_log2).astype(np.float32)
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"])]
        inits = [_tensor("s", np.float32(params.scale)), _tensor("zp", np.int8(params.zero_point))]
        theirs, rule = _run(nodes, inits, x, TensorProto.FLOAT, ours.shape), INPUT
    elif isinstance(op, Dropout | Flatten) or (isinstance(op, ReLU) and layer.name in model.fused):
        return None
    else:
        x = values[layer.inputs[0]]
        relu = any(
            isinstance(other.op, ReLU)
            and other.inputs[0] == layer.name
            and other.name in model.fused
            for other in model.graph.layers
        )
        if isinstance(op, Conv2D | DepthwiseConv2D):
            pads = list(op.pad)
            if isinstance(op, Conv2D):
                weight, group = model.weighted[layer.name].weight.transpose(0, 3, 1, 2), 1
            else:  # (1, KH, KW, C) -> (C, 1, KH, KW)
                weight = model.weighted[layer.name].weight.transpose(3, 0, 1, 2)
                group = weight.shape[0]

            def core(a: str, b: str) -> list[onnx.NodeProto]:
                return [*_dequantized_weights(), helper.make_node(
                    "Conv", [a, "wf", "bf"], [b], kernel_shape=list(op.kernel), pads=pads,
                    strides=list(op.stride), group=group)]  # fmt: skip

            nodes, inits = _qdq(model, layer, core, _weights(model, layer, weight), relu)
            planar = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            theirs = _run(nodes, inits, planar, TensorProto.INT8, nchw).transpose(0, 2, 3, 1)
            rule = REQUANTIZE
        elif isinstance(op, FullyConnected):

            def core(a: str, b: str) -> list[onnx.NodeProto]:
                return [*_dequantized_weights(),
                        helper.make_node("Gemm", [a, "wf", "bf"], [b], transB=1)]  # fmt: skip

            weight = model.weighted[layer.name].weight
            nodes, inits = _qdq(model, layer, core, _weights(model, layer, weight), relu)
            vector = np.ascontiguousarray(x.reshape(len(x), -1))  # HWC order, as the weights
            theirs, rule = _run(nodes, inits, vector, TensorProto.INT8, flat), REQUANTIZE
        elif isinstance(op, Pool2D):
            relu = relu or layer.name in model.pool_activation
            kind = "MaxPool" if op.method is PoolMethod.MAX else "AveragePool"
            extra = {} if op.method is PoolMethod.MAX else {"count_include_pad": 0}

            def core(a: str, b: str) -> list[onnx.NodeProto]:
                return [helper.make_node(
                    kind, [a], [b], kernel_shape=list(op.kernel), strides=list(op.stride),
                    pads=list(op.pad), ceil_mode=1, **extra)]  # fmt: skip

            nodes, inits = _qdq(model, layer, core, [], relu)
            planar = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            theirs = _run(nodes, inits, planar, TensorProto.INT8, nchw).transpose(0, 2, 3, 1)
            rule = SAME if op.method is PoolMethod.MAX else AVERAGE
            if rule == AVERAGE:  # the exact averages, to find the ties
                session = _float_session(core("x", "y"), planar.shape, nchw)
                exact = session.run(["y"], {"x": planar.astype(np.float32)})[0]
                exact = exact.transpose(0, 2, 3, 1)
        elif isinstance(op, Softmax):

            def core(a: str, b: str) -> list[onnx.NodeProto]:
                return [helper.make_node("Softmax", [a], [b], axis=-1)]

            nodes, inits = _qdq(model, layer, core, [], False)
            vector = np.ascontiguousarray(x.reshape(len(x), -1))
            theirs, rule = _run(nodes, inits, vector, TensorProto.INT8, flat), SOFTMAX
        else:
            raise AssertionError(f"layer '{layer.name}' ({op.type_name}) has no ONNX rebuild")
    theirs = theirs.reshape(ours.shape)
    difference = np.abs(theirs.astype(np.int64) - ours.astype(np.int64))
    off_ties = 0
    if rule == AVERAGE:
        fraction = np.abs(exact - np.floor(exact)).reshape(ours.shape)
        off_ties = int(np.count_nonzero((difference != 0) & (fraction != 0.5)))
    return Opinion(layer.name, rule, difference.size, int(np.count_nonzero(difference)),
                   int(difference.max()), off_ties)  # fmt: skip


@pytest.fixture(scope="module")
def opinions() -> list[Opinion]:
    found = []
    for seed in SEEDS:
        graph = random_net(seed)
        data = dataset_for(graph, seed)
        model = quantize_s8(graph, data, calibration=600).model
        pixels = data.test.images
        values = simulate(model, pixels)
        for layer in model.graph.layers:
            opinion = layer_opinion(model, layer, values, pixels)
            if opinion is not None:
                found.append(opinion)
    return found


def test_every_layer_agrees_with_onnxruntime(opinions: list[Opinion]) -> None:
    report = "\n".join(
        f"{o.layer}: {o.different}/{o.elements} differ (largest {o.largest}); {o.rule}"
        for o in opinions
    )
    for opinion in opinions:
        if opinion.rule == SAME:
            assert opinion.different == 0, report
        else:
            assert opinion.largest <= 1, report
    rules = {opinion.rule for opinion in opinions}
    assert {SAME, REQUANTIZE, AVERAGE, INPUT, SOFTMAX} <= rules, rules


def test_the_differences_are_where_the_rules_differ(opinions: list[Opinion]) -> None:
    """Average pooling differs only at exact ties (x.5: the two tie rules); requantization
    only at rare near-ties (a wrong scale, zero point or layout would show in most
    elements)."""
    for opinion in opinions:
        if opinion.rule == AVERAGE:
            assert opinion.off_ties == 0, opinion
        if opinion.rule in (REQUANTIZE, INPUT):
            assert opinion.different <= 0.05 * opinion.elements, opinion
    compared = sum(o.elements for o in opinions if o.rule == REQUANTIZE)
    assert compared > 10_000
