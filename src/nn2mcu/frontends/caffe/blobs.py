"""Caffe parameter blobs <-> IR weights, per operator.

Caffe layouts: convolution weight (O, I, KH, KW), depthwise (C, 1, KH, KW), inner
product (N, K) with K in C, H, W order of the flattened input ((K, N) when
``transpose``), BatchNorm (mean * f, variance * f, f) with f the moving-average
factor, Scale (gamma[, beta]). IR layouts: see the operator modules.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir import FloatArray, Graph, Layer, Shape
from nn2mcu.ops import BatchNorm, Conv2D, DepthwiseConv2D, FullyConnected, Scale

Blobs = list[npt.NDArray[np.float32]]


def caffe_shapes(graph: Graph, layer: Layer, *, transpose: bool = False) -> list[tuple[int, ...]]:
    """The blob shapes Caffe holds for ``layer``, in blob order."""
    op = layer.op
    x = graph.input_shapes(layer)[0] if layer.inputs else None
    if isinstance(op, Conv2D) and x is not None:
        shapes: list[tuple[int, ...]] = [(op.out_channels, x.c, *op.kernel)]
        return shapes + ([(op.out_channels,)] if op.bias else [])
    if isinstance(op, DepthwiseConv2D) and x is not None:
        shapes = [(x.c, 1, *op.kernel)]
        return shapes + ([(x.c,)] if op.bias else [])
    if isinstance(op, FullyConnected) and x is not None:
        n, k = op.out_features, x.size
        shapes = [(k, n) if transpose else (n, k)]
        return shapes + ([(n,)] if op.bias else [])
    if isinstance(op, BatchNorm) and x is not None:
        return [(x.c,), (x.c,), (1,)]
    if isinstance(op, Scale) and x is not None:
        return [(x.c,), (x.c,)] if op.bias else [(x.c,)]
    return []


def _chw_to_hwc_columns(weight: FloatArray, source: Shape) -> FloatArray:
    n = weight.shape[0]
    return (
        weight.reshape(n, source.c, source.h, source.w)
        .transpose(0, 2, 3, 1)
        .reshape(n, source.size)
    )


def _hwc_to_chw_columns(weight: FloatArray, source: Shape) -> FloatArray:
    n = weight.shape[0]
    return (
        weight.reshape(n, source.h, source.w, source.c)
        .transpose(0, 3, 1, 2)
        .reshape(n, source.size)
    )


def to_ir(
    graph: Graph, layer: Layer, blobs: Blobs, *, transpose: bool = False
) -> dict[str, FloatArray]:
    """IR weights of ``layer`` from Caffe blobs already checked against ``caffe_shapes``."""
    op = layer.op
    if isinstance(op, Conv2D):
        weights = {"weight": blobs[0].transpose(0, 2, 3, 1)}
    elif isinstance(op, DepthwiseConv2D):
        weights = {"weight": blobs[0].transpose(1, 2, 3, 0)}
    elif isinstance(op, FullyConnected):
        matrix = blobs[0].T if transpose else blobs[0]
        source = graph.flatten_source(layer.inputs[0])
        weights = {"weight": _chw_to_hwc_columns(matrix, source)}
    elif isinstance(op, BatchNorm):
        factor = float(blobs[2][0])
        scale = 0.0 if factor == 0 else 1.0 / factor
        return {"mean": blobs[0] * scale, "variance": blobs[1] * scale}
    elif isinstance(op, Scale):
        weights = {"scale": blobs[0]}
    else:
        return {}
    if len(blobs) > 1:
        weights["bias"] = blobs[1]
    return weights


def to_caffe(graph: Graph, layer: Layer) -> Blobs:
    """Caffe blobs of ``layer`` (inner product not transposed) from its IR weights."""
    op, weights = layer.op, layer.weights
    if not weights:
        return []
    if isinstance(op, Conv2D):
        blobs = [weights["weight"].transpose(0, 3, 1, 2)]
    elif isinstance(op, DepthwiseConv2D):
        blobs = [weights["weight"].transpose(3, 0, 1, 2)]
    elif isinstance(op, FullyConnected):
        source = graph.flatten_source(layer.inputs[0])
        blobs = [_hwc_to_chw_columns(weights["weight"], source)]
    elif isinstance(op, BatchNorm):
        return [weights["mean"], weights["variance"], np.ones(1, dtype=np.float32)]
    elif isinstance(op, Scale):
        blobs = [weights["scale"]]
    else:
        return []
    if "bias" in weights:
        blobs.append(weights["bias"])
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
