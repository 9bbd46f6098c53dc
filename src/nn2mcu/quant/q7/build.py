"""A q7 model from formats: every tensor's format, the shifts, the integer weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np

from nn2mcu.ir import Graph
from nn2mcu.ir.binding import Site
from nn2mcu.ops import binding
from nn2mcu.ops._q7 import Q7Binding
from nn2mcu.q7.arithmetic import IntArray
from nn2mcu.q7.formats import FormatError, layer_shifts
from nn2mcu.q7.model import (
    AverageVariant,
    LayerFormats,
    Q7Model,
    SoftmaxVersion,
    WeightedLayer,
    to_fixed,
)


def q7_binding(graph: Graph, name: str) -> Q7Binding:
    site = Site(graph, graph.layer(name))
    return cast(Q7Binding, binding(site, "q7"))


def propagate(graph: Graph, input_frac: int, out_fracs: Mapping[str, int]) -> dict[str, int]:
    """The format of every layer's output: the input's, each weighted layer's chosen one,
    and what each binding makes of its inputs' formats."""
    fracs: dict[str, int] = {}
    for layer in graph.layers:
        if layer.op.arity == 0:
            fracs[layer.name] = input_frac
            continue
        chosen = out_fracs[layer.name] if graph.takes_weights(layer) else None
        fracs[layer.name] = q7_binding(graph, layer.name).output_frac(
            [fracs[name] for name in layer.inputs], chosen
        )
    return fracs


def build_model(
    graph: Graph,
    input_frac: int,
    pixel_frac: int,
    mean: IntArray,
    formats: Mapping[str, LayerFormats],
    *,
    pool_variant: AverageVariant = AverageVariant.DSP,
    softmax_version: SoftmaxVersion = SoftmaxVersion.V2019,
) -> Q7Model:
    """Integer weights and shifts for these formats (FormatError when a shift is invalid)."""
    fracs = propagate(graph, input_frac, {name: f.out_frac for name, f in formats.items()})
    weighted: dict[str, WeightedLayer] = {}
    for layer in graph.weighted_layers():
        f = formats[layer.name]
        in_frac = fracs[layer.inputs[0]]
        try:
            shifts = layer_shifts(in_frac, f.w_frac, f.bias_frac, f.out_frac)
        except FormatError as error:
            raise FormatError(f"layer '{layer.name}': {error}") from None
        bias = layer.weights.get("bias")
        bias_int = to_fixed(bias, f.bias_frac) if bias is not None else np.zeros(0, dtype=np.int64)
        if bias_int.size and int(np.abs(bias_int).max()) << shifts.bias_shift >= 1 << 31:
            raise FormatError(f"layer '{layer.name}': bias << {shifts.bias_shift} overflows int32")
        weighted[layer.name] = WeightedLayer(
            f, shifts, to_fixed(layer.weights["weight"], f.w_frac), bias_int
        )
    return Q7Model(
        graph, input_frac, pixel_frac, mean, weighted, fracs, pool_variant, softmax_version,
        graph.logits,
    )  # fmt: skip
