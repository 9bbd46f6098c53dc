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
from nn2mcu.ops import BatchNorm, Conv2D, DepthwiseConv2D, FullyConnected, Scale

Blobs = list[npt.NDArray[np.float32]]

_WEIGHTED = (Conv2D, DepthwiseConv2D, FullyConnected)


def caffe_shapes(graph: Graph, layer: Layer, *, transpose: bool = False) -> list[tuple[int, ...]]:
    """The blob shapes Caffe holds for ``layer``, in blob order."""
    op = layer.op
    if not layer.inputs:
        return []
    x = graph.input_shapes(layer)[0]
    if isinstance(op, Conv2D):
        shapes: list[tuple[int, ...]] = [(op.out_channels, x.c, *op.kernel)]
        return shapes + ([(op.out_channels,)] if op.bias else [])
    if isinstance(op, DepthwiseConv2D):
        shapes = [(x.c, 1, *op.kernel)]
        return shapes + ([(x.c,)] if op.bias else [])
    if isinstance(op, FullyConnected):
        n, k = op.out_features, x.size
        shapes = [(k, n) if transpose else (n, k)]
        return shapes + ([(n,)] if op.bias else [])
    if isinstance(op, BatchNorm):
        return [(x.c,), (x.c,), (1,)]
    if isinstance(op, Scale):
        return [(x.c,), (x.c,)] if op.bias else [(x.c,)]
    return []


def to_ir(
    graph: Graph, layer: Layer, blobs: Blobs, *, transpose: bool = False
) -> dict[str, FloatArray]:
    """IR weights of ``layer`` from Caffe blobs already checked against ``caffe_shapes``."""
    op = layer.op
    if isinstance(op, _WEIGHTED):
        weight = blobs[0].T if transpose else blobs[0]
        nchw = {"weight": weight, **({"bias": blobs[1]} if len(blobs) > 1 else {})}
        source = graph.flatten_source(layer.inputs[0])
        return {name: np.asarray(a, np.float32) for name, a in op.ir_weights(nchw, source).items()}
    if isinstance(op, BatchNorm):
        factor = float(blobs[2][0])
        scale = 0.0 if factor == 0 else 1.0 / factor
        return {"mean": blobs[0] * scale, "variance": blobs[1] * scale}
    if isinstance(op, Scale):
        return {"scale": blobs[0], **({"bias": blobs[1]} if len(blobs) > 1 else {})}
    return {}


def to_caffe(graph: Graph, layer: Layer) -> Blobs:
    """Caffe blobs of ``layer`` (inner product not transposed) from its IR weights."""
    op, weights = layer.op, layer.weights
    if not weights:
        return []
    if isinstance(op, _WEIGHTED):
        nchw = op.nchw_weights(weights, graph.flatten_source(layer.inputs[0]))
        blobs = [nchw["weight"]] + ([nchw["bias"]] if "bias" in nchw else [])
    elif isinstance(op, BatchNorm):
        blobs = [weights["mean"], weights["variance"], np.ones(1, dtype=np.float32)]
    elif isinstance(op, Scale):
        blobs = [weights["scale"]] + ([weights["bias"]] if "bias" in weights else [])
    else:
        return []
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
