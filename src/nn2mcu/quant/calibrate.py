"""The calibration split, the float model's view of the data, and its statistics."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from nn2mcu.datasets import Split
from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe.files import read_mean_file
from nn2mcu.ir import Graph, Layer
from nn2mcu.ops.input import input_of
from nn2mcu.torch_net import TorchNet

CALIBRATION_SEED = 0


@dataclass(frozen=True)
class Calibration:
    pixels: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    sha256: str


def calibration_split(train: Split, count: int) -> Calibration:
    """The first ``count`` training images after a permutation with seed 0."""
    if count < 1:
        raise InputError(f"--calibration must be at least 1, got {count}")
    if count > len(train):
        raise InputError(f"--calibration {count} exceeds the {len(train)} training images")
    order = np.random.default_rng(CALIBRATION_SEED).permutation(len(train))[:count]
    pixels, labels = train.images[order], train.labels[order]
    digest = hashlib.sha256(pixels.tobytes() + labels.astype("<i8").tobytes()).hexdigest()
    return Calibration(pixels, labels, digest)


@dataclass(frozen=True)
class FloatView:
    """How the float network sees pixels: x = (p - mean) * scale, with the scale folded
    into the layers reading the input when it is not a power of two."""

    graph: Graph
    mean: npt.NDArray[np.float64]  # (H, W, C) or (C,)
    scale_log2: int  # the power-of-two part that moves into the input format

    def inputs(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x = (pixels.astype(np.float64) - self.mean) * 2.0**self.scale_log2
        return x.astype(np.float32)


def float_view(graph: Graph) -> FloatView:
    op = input_of(graph)
    prep, shape = op.preprocessing, op.shape
    if prep.mean_file is not None:
        path = Path(prep.mean_file)
        if not path.is_file():
            raise InputError(
                f"mean_file '{prep.mean_file}' does not exist; compute it with nn2mcu mean"
            )
        mean = read_mean_file(path).astype(np.float64).transpose(1, 2, 0)
        if mean.shape != (shape.h, shape.w, shape.c):
            raise InputError(f"mean_file {path} is {list(mean.shape)} (HWC), the input {shape}")
    elif prep.mean_values:
        values = prep.mean_values * (shape.c if len(prep.mean_values) == 1 else 1)
        mean = np.asarray(values, dtype=np.float64)
    else:
        mean = np.zeros(shape.c, dtype=np.float64)
    scale = prep.scale
    if scale <= 0:
        raise InputError(f"input scale {scale} must be positive")
    exponent = math.log2(scale)
    if exponent == round(exponent):
        return FloatView(graph, mean, round(exponent))
    return FloatView(_fold_scale(graph, graph.input_name, scale), mean, 0)


def _fold_scale(graph: Graph, input_name: str, scale: float) -> Graph:
    layers: list[Layer] = []
    for layer in graph.layers:
        if input_name in layer.inputs:
            if "weight" not in layer.weights:
                raise InputError(
                    f"input scale {scale:g} is not a power of two and '{layer.name}' "
                    f"({layer.op.type_name}) reads the input: only a convolution or inner "
                    "product can absorb it"
                )
            weights = dict(layer.weights)
            weights["weight"] = weights["weight"] * np.float32(scale)
            layer = replace(layer, weights=weights)
        layers.append(layer)
    return Graph(graph.name, tuple(layers), graph.outputs)


def float_outputs(
    view: FloatView, pixels: npt.NDArray[np.uint8], names: list[str], batch: int = 500
) -> dict[str, npt.NDArray[np.float32]]:
    """Float outputs (NHWC) of the named layers."""
    net = TorchNet(view.graph).eval()
    chunks: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in names}
    with torch.no_grad():
        for start in range(0, len(pixels), batch):
            x = view.inputs(pixels[start : start + batch])
            outputs = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), outputs=names)
            for name in names:
                chunks[name].append(net.to_nhwc(name, outputs[name]).astype(np.float32))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}
