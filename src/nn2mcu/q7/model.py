"""A network quantized for the legacy q7 kernels: formats, shifts, integer weights.

Every activation tensor has one power-of-two format (``frac`` fractional bits).
Convolutions and inner products choose their output format; ReLU, pooling,
Dropout and Flatten keep their input's (the kernels have no shift there); Softmax
outputs Q0.7. The input's format is ``input_frac``; pixels are preprocessed with
``pixel_frac`` = input_frac + log2(scale) (see ``preprocess.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.ops import (
    AverageVariant,
    BatchNorm,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Input,
    Pool2D,
    Scale,
    Softmax,
    SoftmaxVersion,
)
from nn2mcu.ops.relu6 import Q7_REFUSAL, ReLU6
from nn2mcu.q7.arithmetic import INT8_MAX, INT8_MIN, IntArray
from nn2mcu.q7.formats import FormatError, Shifts, layer_shifts

WEIGHTED = (Conv2D, DepthwiseConv2D, FullyConnected)
SOFTMAX_FRAC = 7


@dataclass(frozen=True)
class LayerFormats:
    """Formats a weighted layer chooses: weights, bias, output (fractional bits)."""

    w_frac: int
    bias_frac: int
    out_frac: int


@dataclass(frozen=True)
class WeightedLayer:
    formats: LayerFormats
    shifts: Shifts
    weight: IntArray  # IR layout, int8 values
    bias: IntArray


@dataclass(frozen=True)
class Q7Model:
    graph: Graph  # float weights (the scale already folded into the first layer)
    input_frac: int
    pixel_frac: int
    mean: IntArray  # M: per pixel (H, W, C) or per channel (C,)
    weighted: Mapping[str, WeightedLayer]
    fracs: Mapping[str, int]  # output format of every layer
    pool_variant: AverageVariant = AverageVariant.DSP
    softmax_version: SoftmaxVersion = SoftmaxVersion.V2019
    logits: str = field(default="")  # the layer whose argmax classifies

    def formats(self) -> dict[str, LayerFormats]:
        return {name: layer.formats for name, layer in self.weighted.items()}


def check_q7_graph(graph: Graph) -> None:
    """Refuse what the legacy q7 kernels cannot compute, naming the layer."""
    for layer in graph.layers:
        op = layer.op
        if isinstance(op, BatchNorm | Scale):
            raise InputError(f"layer '{layer.name}' ({op.type_name}) must be folded before q7")
        if isinstance(op, ReLU6):
            raise InputError(f"layer '{layer.name}' (ReLU6): {Q7_REFUSAL}")
        if isinstance(op, Pool2D):
            if op.pad != (0, 0):
                raise InputError(
                    f"layer '{layer.name}' (Pooling): pad {op.pad[0]},{op.pad[1]}: the legacy q7 "
                    "pooling kernels do not compute Caffe's padded windows"
                )
            x = graph.input_shapes(layer)[0]
            if op.kernel[0] != op.kernel[1] or op.stride[0] != op.stride[1] or x.h != x.w:
                raise InputError(
                    f"layer '{layer.name}' (Pooling): the legacy q7 pooling kernels take square "
                    "images, kernels and strides only"
                )
        if layer.op.weight_shapes(graph.input_shapes(layer)) and not layer.weights:
            raise InputError(f"layer '{layer.name}' has no weights; quantizing needs them")
        for key, value in layer.weights.items():
            if not np.all(np.isfinite(value)):
                raise InputError(f"layer '{layer.name}': {key} holds NaN or Inf values")


def logits_layer(graph: Graph) -> str:
    """The layer whose argmax classifies: the one before a final Softmax, else the output."""
    (output,) = graph.outputs if len(graph.outputs) == 1 else (graph.layers[-1].name,)
    layer = graph.layer(output)
    if isinstance(layer.op, Softmax):
        return layer.inputs[0]
    return output


def propagate(graph: Graph, input_frac: int, out_fracs: Mapping[str, int]) -> dict[str, int]:
    """The format of every layer's output."""
    fracs: dict[str, int] = {}
    for layer in graph.layers:
        if isinstance(layer.op, Input):
            fracs[layer.name] = input_frac
        elif isinstance(layer.op, WEIGHTED):
            fracs[layer.name] = out_fracs[layer.name]
        elif isinstance(layer.op, Softmax):
            fracs[layer.name] = SOFTMAX_FRAC
        else:
            fracs[layer.name] = fracs[layer.inputs[0]]
    return fracs


def to_fixed(values: np.ndarray, frac: int) -> IntArray:
    """round(v * 2**frac) (half to even, as numpy rounds), saturated to int8."""
    scaled = np.round(np.asarray(values, dtype=np.float64) * 2.0**frac)
    return np.clip(scaled, INT8_MIN, INT8_MAX).astype(np.int64)


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
    for layer in graph.layers:
        if not isinstance(layer.op, WEIGHTED):
            continue
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
        logits_layer(graph),
    )  # fmt: skip
