"""The float reference: a graph run on NHWC inputs with numpy, in float64.

It defines what the network computes; the PyTorch module used for training and
the integer simulators are checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from nn2mcu.ir import Graph

Array = npt.NDArray[np.float64]


def float_forward(
    graph: Graph, inputs: npt.ArrayLike | Mapping[str, npt.ArrayLike]
) -> dict[str, Array]:
    """Every layer's output for a batch. ``inputs``: one NHWC array, or one per Input layer."""
    names = [layer.name for layer in graph.layers if layer.op.arity == 0]
    given = inputs if isinstance(inputs, Mapping) else {names[0]: inputs}
    if len(names) != 1 and not isinstance(inputs, Mapping):
        raise ValueError(f"the graph has {len(names)} inputs; pass a mapping name -> array")
    outputs: dict[str, Array] = {}
    for layer in graph.layers:
        if layer.op.arity == 0:
            x = np.asarray(given[layer.name], dtype=np.float64)
            shape = graph.shapes[layer.name]
            if x.ndim != 4 or x.shape[1:] != (shape.h, shape.w, shape.c):
                raise ValueError(f"input '{layer.name}' must be N x {shape}, got {list(x.shape)}")
            outputs[layer.name] = x
            continue
        args = [outputs[name] for name in layer.inputs]
        outputs[layer.name] = np.asarray(layer.op.float_reference(args, layer.weights), np.float64)
    return outputs
