"""Make every input layer subtract a given mean file, in place of its own mean_file or
mean_value (which may name a file on another machine)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nn2mcu.ir import Graph
from nn2mcu.ops.input import input_of


def use_mean_file(graph: Graph, mean: Path) -> Graph:
    op = input_of(graph)
    prep = dataclasses.replace(op.preprocessing, mean_file=str(mean.resolve()), mean_values=())
    layers = []
    for layer in graph.layers:
        if layer.name == graph.input_name:
            layer = dataclasses.replace(layer, op=dataclasses.replace(op, preprocessing=prep))
        layers.append(layer)
    return Graph(graph.name, tuple(layers), graph.outputs)
