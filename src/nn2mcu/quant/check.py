"""The check of a float graph before a scheme quantizes it: every layer has a binding in
the scheme and meets its constraints, and every parameter is there and finite."""

from __future__ import annotations

import numpy as np

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.ir.binding import Site
from nn2mcu.ops import binding


def check_graph(graph: Graph, scheme: str) -> None:
    """Refuse what ``scheme``'s kernels cannot compute, naming the layer and the reason."""
    graph.input_name  # exactly one input  # noqa: B018
    for layer in graph.layers:
        if layer.op.arity == 0:
            continue
        site = Site(graph, layer)
        binding(site, scheme).check(site)
        if graph.takes_weights(layer) and not layer.weights:
            raise InputError(f"layer '{layer.name}' has no weights; quantizing needs them")
        for key, value in layer.weights.items():
            if not np.all(np.isfinite(value)):
                raise InputError(f"layer '{layer.name}': {key} holds NaN or Inf values")
