"""One entry for every front end: a Caffe net (or solver) .prototxt with its weights, or
an ONNX model, by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import InputShapeSources, load_net
from nn2mcu.ir import Graph

NO_SOURCES = InputShapeSources()


def is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def load_network(
    path: Path,
    *,
    weights: Path | None = None,
    phase: str = "TEST",
    sources: InputShapeSources = NO_SOURCES,
    mean: tuple[float, ...] | None = None,
    scale: float | None = None,
) -> Graph:
    """The network in ``path`` with weights: Caffe with ``weights`` (a .caffemodel or
    .caffemodel.h5; preprocessing from the net), or ONNX (weights inside; preprocessing
    from ``mean`` and ``scale`` or the model's metadata_props)."""
    if is_onnx(path):
        if weights is not None:
            raise InputError(f"--weights {weights}: an ONNX model carries its own weights")
        from nn2mcu.frontends.onnx import load_onnx

        graph = load_onnx(path, mean=mean, scale=scale)
        shape = graph.shapes[graph.layers[0].name]
        if sources.data_shape is not None and sources.data_shape != (shape.c, shape.h, shape.w):
            given = "x".join(map(str, sources.data_shape))
            raise InputError(
                f"{path}: the model takes {shape.c}x{shape.h}x{shape.w} (CxHxW) images, "
                f"{sources.data_spec or 'the data'} has {given}"
            )
        return graph
    if mean is not None or scale is not None:
        raise InputError(
            f"{path}: mean values and --scale are for ONNX models; a Caffe net gives its "
            "preprocessing in transform_param (or --mean FILE for its mean_file)"
        )
    return load_net(path, weights=weights, phase=phase, sources=sources)
