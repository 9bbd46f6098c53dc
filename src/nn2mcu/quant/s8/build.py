"""An s8 model from real ranges: every tensor's scale and zero point, per-channel int8
weights, int32 biases, multipliers and shifts, and the activations fused into the layer
before them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.ir.binding import Site
from nn2mcu.ops import binding
from nn2mcu.ops._s8 import QMAX, QMIN, S8Binding
from nn2mcu.s8.arithmetic import IntArray, quantize_multiplier
from nn2mcu.s8.model import S8Layer, S8Model, TensorParams, _pow2_ceil, activation_range


def s8_binding(graph: Graph, name: str) -> S8Binding:
    site = Site(graph, graph.layer(name))
    return cast(S8Binding, binding(site, "s8"))


def calibrated_layers(graph: Graph) -> list[str]:
    """The layers whose output range is calibrated: weighted layers, and those whose s8
    binding is ``calibrated`` (an Add's sum), in graph order."""
    return [
        layer.name
        for layer in graph.layers
        if layer.op.arity > 0
        and (graph.takes_weights(layer) or s8_binding(graph, layer.name).calibrated)
    ]


def _fusable_activation(graph: Graph, name: str) -> tuple[str, float | None] | None:
    """The activation right after ``name`` (its only reader), with its upper end."""
    readers = graph.consumers(name)
    if len(readers) != 1:
        return None
    clamp = s8_binding(graph, readers[0].name).clamp()
    return None if clamp is None else (readers[0].name, clamp[1])


def build_model(
    graph: Graph,
    mean: IntArray,
    scale_log2: int,
    ranges: Mapping[str, tuple[float, float]],
    logits: str,
    *,
    single_rounding: bool = False,
    pow2: bool = False,
) -> S8Model:
    """Integer weights, biases, multipliers and shifts for the given real ranges of the
    input (key 'input') and of every weighted or calibrated layer's output (``calibrated``
    layers: their binding's). With ``pow2`` every scale is
    a power of two, so every requantization multiplier is 2^30."""
    tensors: dict[str, TensorParams] = {}
    weighted: dict[str, S8Layer] = {}
    fused: set[str] = set()
    pool_activation: dict[str, tuple[int, int]] = {}
    for layer in graph.layers:
        if layer.op.arity == 0:
            tensors[layer.name] = TensorParams.from_range(*ranges["input"], pow2)
            continue
        rules = s8_binding(graph, layer.name)
        rules.check(Site(graph, layer))
        follows = _fusable_activation(graph, layer.name) if rules.fuses_activation else None
        if not graph.takes_weights(layer):
            if rules.calibrated:
                tensors[layer.name] = TensorParams.from_range(*ranges[layer.name], pow2)
            else:
                tensors[layer.name] = rules.tensor_params(
                    Site(graph, layer), [tensors[name] for name in layer.inputs]
                )
            if follows is not None:
                fused.add(follows[0])
                pool_activation[layer.name] = activation_range(tensors[layer.name], follows[1])
            continue
        source = tensors[layer.inputs[0]]
        out = TensorParams.from_range(*ranges[layer.name], pow2)
        tensors[layer.name] = out
        weight = np.asarray(layer.weights["weight"], dtype=np.float64)
        axis = layer.op.weight_channel_axis
        per_channel = np.moveaxis(weight, axis, 0).reshape(weight.shape[axis], -1)
        scales = np.maximum(np.abs(per_channel).max(axis=1), 1e-12) / 127.0
        if pow2:
            scales = np.array([_pow2_ceil(float(value)) for value in scales])
        shape = [1] * weight.ndim
        shape[axis] = -1
        q_weight = np.clip(np.round(weight / scales.reshape(shape)), -127, 127)
        bias = layer.weights.get("bias")
        channels = len(scales)
        real_bias = np.zeros(channels) if bias is None else np.asarray(bias, np.float64)
        q_bias = np.round(real_bias / (source.scale * scales))
        if np.abs(q_bias).max(initial=0) >= 2**31:
            raise InputError(f"layer '{layer.name}': a bias does not fit int32")
        pairs = [quantize_multiplier(source.scale * s / out.scale) for s in scales]
        activation = (QMIN, QMAX)
        if follows is not None:
            fused.add(follows[0])
            activation = activation_range(out, follows[1])
        weighted[layer.name] = S8Layer(
            q_weight.astype(np.int64),
            q_bias.astype(np.int64),
            scales,
            np.array([m for m, _ in pairs], dtype=np.int64),
            np.array([s for _, s in pairs], dtype=np.int64),
            activation,
        )
    input_params = tensors[graph.layers[0].name]
    multiplier, shift = quantize_multiplier(2.0**scale_log2 / input_params.scale)
    return S8Model(graph, mean, scale_log2, multiplier, shift, tensors, weighted,
                   frozenset(fused), logits, pool_activation, single_rounding)  # fmt: skip
