"""Fold BatchNorm and Scale layers into the convolution or inner product before them.

For each output channel o, with inv_std = 1 / sqrt(variance + eps):
    weight'[o] = weight[o] * inv_std * gamma
    bias'[o]   = (bias[o] - mean) * inv_std * gamma + beta
(gamma = 1 and beta = 0 without a Scale; a lone Scale folds the same way with
mean 0 and inv_std 1). Computed in float64, stored as float32.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer
from nn2mcu.ops import Conv2D, DepthwiseConv2D, FullyConnected

_FOLDABLE = (Conv2D, DepthwiseConv2D, FullyConnected)


def _fold_into(
    target: Layer,
    op: Conv2D | DepthwiseConv2D | FullyConnected,
    multiplier: npt.NDArray[np.float64],
    offset: npt.NDArray[np.float64],
) -> Layer:
    weight = target.weights["weight"].astype(np.float64)
    shape = [1] * weight.ndim
    shape[op.weight_channel_axis] = -1  # depthwise (1, KH, KW, C): channels last
    weight = weight * multiplier.reshape(shape)
    bias = (
        target.weights["bias"].astype(np.float64)
        if "bias" in target.weights
        else np.zeros_like(multiplier)
    )
    bias = bias * multiplier + offset
    return dataclasses.replace(
        target,
        op=dataclasses.replace(op, bias=True),
        weights={"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)},
    )


def fold_batchnorm(graph: Graph) -> Graph:
    """Return ``graph`` with every BatchNorm/Scale folded into its producer.

    Raises InputError for a BatchNorm or Scale that does not directly follow a
    convolution or inner product whose only reader it is, or that has no weights.
    """
    layers: dict[str, Layer] = {layer.name: layer for layer in graph.layers}
    alias: dict[str, str] = {}  # folded layer name -> layer now producing its values
    for layer in graph.layers:
        if not layer.op.folded_into_producer:
            continue
        source_name = alias.get(layer.inputs[0], layer.inputs[0])
        source = layers[source_name]
        if not isinstance(source.op, _FOLDABLE):
            raise InputError(
                f"{layer.op.type_name} '{layer.name}' follows {source.op.type_name} "
                f"'{source.name}'; only a BatchNorm or Scale directly after a Convolution "
                "or InnerProduct can be folded"
            )
        readers = {reader.name for reader in graph.consumers(layer.inputs[0])}
        if readers != {layer.name}:
            others = sorted(readers - {layer.name})
            raise InputError(
                f"{layer.op.type_name} '{layer.name}' cannot be folded into '{source.name}': "
                f"its input is also read by {', '.join(repr(o) for o in others)}"
            )
        if not layer.weights or not source.weights:
            raise InputError(f"{layer.op.type_name} '{layer.name}' has no weights to fold")
        multiplier, offset = layer.op.channel_affine(layer.weights)
        layers[source_name] = _fold_into(source, source.op, multiplier, offset)
        alias[layer.name] = source_name
        del layers[layer.name]

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    rebuilt = [
        dataclasses.replace(layer, inputs=tuple(resolve(name) for name in layer.inputs))
        for layer in layers.values()
    ]
    outputs = tuple(dict.fromkeys(resolve(name) for name in graph.outputs))
    return Graph(name=graph.name, layers=tuple(rebuilt), outputs=outputs)
