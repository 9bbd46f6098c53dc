"""The ONNX front end: models from PyTorch (torch.onnx.export) and other exporters."""

from __future__ import annotations

from pathlib import Path

from nn2mcu.frontends.onnx.loader import OnnxNet, parse_mean, read_onnx
from nn2mcu.ir import Graph


def load_onnx(
    path: Path,
    *,
    mean: tuple[float, ...] | None = None,
    scale: float | None = None,
    check: bool = True,
) -> Graph:
    """An ONNX model as an IR graph with weights, checked against onnxruntime."""
    net = read_onnx(path, mean=mean, scale=scale)
    if check:
        from nn2mcu.frontends.onnx.check import check_against_onnxruntime

        check_against_onnxruntime(net, str(path))
    return net.graph


__all__ = ["OnnxNet", "load_onnx", "parse_mean", "read_onnx"]
