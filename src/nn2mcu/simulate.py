"""The bit-exact simulator: a q7 model run on uint8 images as the Cortex-M kernels run it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from nn2mcu.ir import Layer
from nn2mcu.ops import Dropout, Flatten, Input, Pool2D, ReLU, Softmax
from nn2mcu.q7.arithmetic import AnyIntArray, IntArray
from nn2mcu.q7.model import WEIGHTED, Q7Model
from nn2mcu.q7.preprocess import quantize_input


def run_layer(model: Q7Model, layer: Layer, inputs: list[npt.NDArray[np.integer]]) -> AnyIntArray:
    """One layer's int8 output from its inputs' (any integer dtype)."""
    op = layer.op
    x = inputs[0]
    if isinstance(op, WEIGHTED):
        q = model.weighted[layer.name]
        return op.q7_reference(
            x,
            q.weight,
            q.bias,
            bias_shift=q.shifts.bias_shift,
            out_shift=q.shifts.out_shift,
        )
    if isinstance(op, ReLU):
        return op.q7_reference(x)
    if isinstance(op, Pool2D):
        return op.q7_reference(x, model.pool_variant)
    if isinstance(op, Softmax):
        return op.q7_reference(x, model.softmax_version)
    if isinstance(op, Flatten):
        return x.reshape(x.shape[0], 1, 1, -1)
    if isinstance(op, Dropout):
        return x
    raise ValueError(f"layer '{layer.name}' ({op.type_name}) has no q7 kernel")


def simulate(
    model: Q7Model,
    pixels: npt.NDArray[np.uint8] | None = None,
    *,
    start: int = 0,
    known: Mapping[str, npt.NDArray[np.integer]] | None = None,
) -> dict[str, npt.NDArray[np.int8]]:
    """Every layer's output (int8) for a batch of uint8 NHWC images.

    With ``start`` > 0, layers before that index are taken from ``known`` (their
    outputs from an earlier run) and only the rest are computed.
    """
    values: dict[str, npt.NDArray[np.int8]] = {}
    for index, layer in enumerate(model.graph.layers):
        if index < start:
            if known is None:
                raise ValueError("start > 0 needs the earlier layers' outputs")
            values[layer.name] = np.asarray(known[layer.name], dtype=np.int8)
            continue
        out: AnyIntArray
        if isinstance(layer.op, Input):
            if pixels is None:
                raise ValueError("the input layer needs pixels")
            out = quantize_input(pixels, model.mean, model.pixel_frac)
        else:
            out = run_layer(model, layer, [values[name] for name in layer.inputs])
        values[layer.name] = out.astype(np.int8, copy=False)
    return values


def classify(model: Q7Model, values: Mapping[str, np.ndarray]) -> IntArray:
    """argmax of the logits layer, lowest index on ties."""
    logits = np.asarray(values[model.logits]).reshape(len(values[model.logits]), -1)
    labels: IntArray = np.argmax(logits, axis=1).astype(np.int64)
    return labels
