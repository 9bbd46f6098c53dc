"""Caffe parameter blobs <-> IR weights, per operator.

Caffe keeps weights in NCHW-framework layouts (``Op.nchw_weights``): convolution
(O, I, KH, KW), depthwise (C, 1, KH, KW), inner product (N, K) with K in C, H, W
order ((K, N) when ``transpose``). Blob order is weight then bias. BatchNorm holds
(mean * f, variance * f, f) with f the moving-average factor; Scale (gamma[, beta]).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir import FloatArray, Graph, Layer

Blobs = list[npt.NDArray[np.float32]]


def _blob_names(graph: Graph, layer: Layer) -> list[str]:
    """The IR weight names of a layer's Caffe blobs, in blob order (the operator's own
    order of weight_shapes: weight then bias, mean then variance, scale then bias). A
    BatchNorm (mean, variance) has a third blob, the moving-average factor f."""
    return list(layer.op.weight_shapes(graph.input_shapes(layer)))


def _has_factor(names: list[str]) -> bool:
    """Caffe's BatchNorm stores (mean * f, variance * f, f)."""
    return names == ["mean", "variance"]


def caffe_shapes(graph: Graph, layer: Layer, *, transpose: bool = False) -> list[tuple[int, ...]]:
    """The blob shapes Caffe holds for ``layer``, in blob order."""
    if not layer.inputs:
        return []
    expected = layer.op.weight_shapes(graph.input_shapes(layer))
    zeros = {name: np.zeros(shape, np.float32) for name, shape in expected.items()}
    nchw = layer.op.nchw_weights(zeros, graph.flatten_source(layer.inputs[0]))
    names = _blob_names(graph, layer)
    shapes = [nchw[name].shape for name in names]
    if transpose and shapes and len(shapes[0]) == 2:  # an inner product stored (K, N)
        shapes[0] = shapes[0][::-1]
    if _has_factor(names):
        shapes.append((1,))
    return shapes


def to_ir(
    graph: Graph, layer: Layer, blobs: Blobs, *, transpose: bool = False
) -> dict[str, FloatArray]:
    """IR weights of ``layer`` from Caffe blobs already checked against ``caffe_shapes``."""
    names = _blob_names(graph, layer)
    if not names:
        return {}
    nchw = dict(zip(names, blobs, strict=False))
    if transpose and nchw["weight"].ndim == 2:
        nchw["weight"] = nchw["weight"].T
    if _has_factor(names):  # divide out the moving-average factor
        factor = float(blobs[len(names)][0])
        scale = 0.0 if factor == 0 else 1.0 / factor
        nchw = {name: value * scale for name, value in nchw.items()}
    source = graph.flatten_source(layer.inputs[0])
    return {
        name: np.asarray(value, np.float32)
        for name, value in layer.op.ir_weights(nchw, source).items()
    }


def to_caffe(graph: Graph, layer: Layer) -> Blobs:
    """Caffe blobs of ``layer`` (inner product not transposed) from its IR weights."""
    if not layer.weights:
        return []
    nchw = layer.op.nchw_weights(layer.weights, graph.flatten_source(layer.inputs[0]))
    names = _blob_names(graph, layer)
    blobs = [nchw[name] for name in names if name in nchw]
    if _has_factor(names):
        blobs.append(np.ones(1, dtype=np.float32))
    return [np.ascontiguousarray(blob, dtype=np.float32) for blob in blobs]


def fit_blobs(where: str, layer: Layer, blobs: Blobs, expected: list[tuple[int, ...]]) -> Blobs:
    """Check a layer's blobs against the expected shapes; accept Caffe's legacy 4-D form.

    Caffe's old files store every blob as num x channels x height x width, so an
    inner product weight (N, K) may arrive as (1, 1, N, K).
    """
    if len(blobs) != len(expected):
        shapes = [list(blob.shape) for blob in blobs]
        raise InputError(
            f"{where}: layer '{layer.name}' ({layer.op.type_name}) has {len(blobs)} blob(s) "
            f"{shapes}, the net expects {len(expected)} {[list(s) for s in expected]}"
        )
    fitted: Blobs = []
    for index, (blob, shape) in enumerate(zip(blobs, expected, strict=True)):
        legacy = (1,) * (4 - len(shape)) + shape if len(shape) <= 4 else None
        if blob.shape != shape and blob.shape != legacy:
            raise InputError(
                f"{where}: layer '{layer.name}' ({layer.op.type_name}) blob {index} has shape "
                f"{list(blob.shape)}, the net expects {list(shape)}"
            )
        fitted.append(blob.reshape(shape))
    return fitted
