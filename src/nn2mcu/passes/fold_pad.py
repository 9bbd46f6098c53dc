"""Fold explicit zero padding (a Pad layer) into the padding of the layers that read it.

- A convolution or depthwise convolution: its padding grows by the Pad's, side by side;
  padding contributes 0 to the sums either way.
- A max pooling: only when the padded tensor comes from a ReLU or ReLU6 (every value >= 0):
  the pooling kernels ignore out-of-bounds cells, while explicit zeros take part in the
  max, which is the same only for non-negative values; and only in floor mode (a ceil-mode
  pool sizes its output by Caffe's rule, not the padded tensor's).
- Never an average pooling: its kernels divide by the in-bounds count, explicit zeros
  would count.
Anything else is refused with its reason, naming the Pad.
"""

from __future__ import annotations

import dataclasses

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer
from nn2mcu.ops import Conv2D, DepthwiseConv2D, Pad, Pool2D, PoolMethod, ReLU, ReLU6


def _padded(pad: Layer, padding: Pad, reader: Layer, graph: Graph) -> Layer:
    """``reader`` with the Pad layer's ``padding`` added to its own."""
    op = reader.op
    where = f"Pad '{pad.name}' before {op.type_name} '{reader.name}'"
    if isinstance(op, Pool2D):
        if op.method is PoolMethod.AVE:
            raise InputError(
                f"{where}: explicit zeros cannot fold into an average pooling (its kernels "
                "divide by the in-bounds count)"
            )
        source = graph.layer(pad.inputs[0]).op
        if not isinstance(source, ReLU | ReLU6):
            raise InputError(
                f"{where}: explicit zeros fold into a max pooling only after a ReLU or ReLU6 "
                "(the pooling kernels ignore out-of-bounds cells, which equals a max with "
                "zeros only for non-negative values)"
            )
        if op.ceil_mode:
            raise InputError(f"{where}: the pooling is in ceil mode; only floor mode folds")
    elif not isinstance(op, Conv2D | DepthwiseConv2D):
        raise InputError(
            f"{where}: a Pad folds only into a convolution or a max pooling after a ReLU"
        )
    top, left, bottom, right = (
        mine + extra for mine, extra in zip(op.pad, padding.pad, strict=True)
    )
    total = (top, left, bottom, right)
    try:
        folded = dataclasses.replace(op, pad=total)
    except ValueError as error:
        raise InputError(f"{where}: {error}") from None
    inputs = tuple(pad.inputs[0] if name == pad.name else name for name in reader.inputs)
    return dataclasses.replace(reader, op=folded, inputs=inputs)


def fold_pad(graph: Graph) -> Graph:
    """``graph`` without Pad layers, each folded into every layer that reads it."""
    layers = {layer.name: layer for layer in graph.layers}
    for layer in graph.layers:
        padding = layer.op
        if not isinstance(padding, Pad):
            continue
        readers = graph.consumers(layer.name)
        if not readers or layer.name in graph.outputs:
            raise InputError(f"Pad '{layer.name}': the network's output; nothing to fold into")
        for reader in readers:
            layers[reader.name] = _padded(layer, padding, layers[reader.name], graph)
        del layers[layer.name]
    return Graph(graph.name, tuple(layers.values()), graph.outputs)
