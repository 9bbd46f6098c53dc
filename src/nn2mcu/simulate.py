"""The bit-exact simulator of either scheme: a quantized model run on uint8 images as the
kernels run it, one binding's simulation step per layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nn2mcu.ir.binding import QuantizedModel, Site
from nn2mcu.ops import binding

Int8Array = npt.NDArray[np.int8]


# Images simulated at once where a whole set is run: the kernels' working arrays (an im2col
# of every image) scale with it; 250 keeps the s8 models here near 1 GB.
SIMULATION_BATCH = 250


def simulate(
    model: QuantizedModel,
    pixels: npt.NDArray[Any] | None = None,
    *,
    start: int = 0,
    known: Mapping[str, npt.NDArray[np.integer]] | None = None,
) -> dict[str, Int8Array]:
    """Every layer's int8 output for a batch of uint8 NHWC images (the model's input stage
    first, then each layer's binding in the model's scheme).

    With ``start`` > 0, layers before that index are taken from ``known`` (their
    outputs from an earlier run) and only the rest are computed.
    """
    graph = model.graph
    values: dict[str, Int8Array] = {}
    for index, layer in enumerate(graph.layers):
        if index < start:
            if known is None:
                raise ValueError("start > 0 needs the earlier layers' outputs")
            values[layer.name] = np.asarray(known[layer.name], dtype=np.int8)
            continue
        if layer.op.arity == 0:
            if pixels is None:
                raise ValueError("the input layer needs pixels")
            values[layer.name] = model.input_stage(pixels)
            continue
        site = Site(graph, layer, model)
        step = binding(site, model.scheme).simulate
        out = step(site, tuple(values[name] for name in layer.inputs))
        values[layer.name] = np.asarray(out).astype(np.int8, copy=False)
    return values


def simulate_batched(
    model: QuantizedModel,
    pixels: npt.NDArray[Any],
    *,
    start: int = 0,
    known: Mapping[str, npt.NDArray[np.integer]] | None = None,
    batch: int = SIMULATION_BATCH,
) -> dict[str, Int8Array]:
    """``simulate`` over ``pixels`` in batches: the same values, with the kernels' working
    arrays (an im2col of every image at once can take gigabytes) sized by the batch."""
    parts: dict[str, list[Int8Array]] = {}
    for first in range(0, len(pixels), batch):
        chunk = slice(first, first + batch)
        given = None if known is None else {name: value[chunk] for name, value in known.items()}
        for name, value in simulate(model, pixels[chunk], start=start, known=given).items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def classify(model: QuantizedModel, values: Mapping[str, np.ndarray]) -> npt.NDArray[np.int64]:
    """argmax of the logits layer, lowest index on ties."""
    logits = np.asarray(values[model.logits]).reshape(len(values[model.logits]), -1)
    labels: npt.NDArray[np.int64] = np.argmax(logits, axis=1).astype(np.int64)
    return labels
