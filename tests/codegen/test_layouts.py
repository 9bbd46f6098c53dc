"""Whole networks in the host tier that the chain-only, symmetric-padding design could not
take: an activation that is not fused into the layer before it (Conv -> Flatten ->
Clip(0, 6) -> Gemm: its clamp runs in place, so the classifier reads what it wrote), and
TFLite-style SAME padding with stride 2 on even inputs, which pads (0, 1). The ONNX models
are written with onnx.helper; import checks them against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nn2mcu.codegen.lower import lower
from nn2mcu.datasets import Dataset, Split
from nn2mcu.frontends.onnx import load_onnx
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.reference import float_forward
from tests.frontends.test_onnx import _verified

pytestmark = pytest.mark.host
MEAN, SCALE = 128.0, 1 / 64


def _model(path: Path, nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], size: int,
           classes: int) -> Path:  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        [
            numpy_helper.from_array(value.astype(np.float32), name)
            for name, value in weights.items()
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _data(graph: object, size: int, seed: int) -> Dataset:
    """Random images labelled by the float network itself."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (800, size, size, 3), dtype=np.uint8)
    x = (images.astype(np.float64) - MEAN) * SCALE
    logits = float_forward(graph, x)[graph.logits]  # type: ignore[attr-defined]
    labels = logits.reshape(len(images), -1).argmax(axis=1).astype(np.int64)
    return Dataset("random", Split(images[:600], labels[:600]), Split(images[600:], labels[600:]),
                   tuple(str(i) for i in range(logits.shape[-1])))  # fmt: skip


def test_an_unfused_relu6_clamps_in_place_and_verifies(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c1"], ["f"], axis=1),
        helper.make_node("Clip", ["f", "low", "high"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
    ]
    weights = {
        "w1": rng.normal(0, 0.4, (4, 3, 3, 3)), "b1": rng.normal(0, 0.5, 4),
        "low": np.array(0.0), "high": np.array(6.0),
        "w2": rng.normal(0, 0.2, (5, 4 * 8 * 8)), "b2": rng.normal(0, 0.1, 5),
    }  # fmt: skip
    graph = load_onnx(
        _model(tmp_path / "net.onnx", nodes, weights, 8, 5), mean=(MEAN,), scale=SCALE
    )
    data = _data(graph, 8, 3)
    model = quantize_s8(graph, data, calibration=600).model
    program = lower(model)
    clamp = next(call for call in program.calls if call.kernel.name == "nn_clamp_s8")
    assert not model.fused  # the ReLU6 follows a Flatten: nothing to fuse it into
    assert clamp.output == clamp.input  # in place: the Gemm reads the clamped bytes
    gemm = program.calls[-1]
    assert gemm.input == clamp.output
    assert _verified(model, data, tmp_path) == 0


def test_same_padding_with_stride_2_pads_one_side_and_verifies(tmp_path: Path) -> None:
    """Conv 3x3 stride 2 on 12 x 12 and max pool 3x3 stride 2 on 6 x 6, both SAME_UPPER:
    padding (0, 0, 1, 1) each (top, left, bottom, right)."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Flatten", ["c2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
    ]  # fmt: skip
    weights = {
        "w1": rng.normal(0, 0.4, (8, 3, 3, 3)), "b1": rng.normal(0, 0.3, 8),
        "w2": rng.normal(0, 0.3, (6, 8, 2, 2)), "b2": rng.normal(0, 0.3, 6),
        "w3": rng.normal(0, 0.2, (4, 6 * 3 * 3)), "b3": rng.normal(0, 0.1, 4),
    }  # fmt: skip
    graph = load_onnx(
        _model(tmp_path / "net.onnx", nodes, weights, 12, 4), mean=(MEAN,), scale=SCALE
    )
    pads = [layer.op.pad for layer in graph.layers if hasattr(layer.op, "pad")]
    assert pads == [(0, 0, 1, 1), (0, 0, 1, 1), (0, 0, 1, 1)]
    data = _data(graph, 12, 4)
    model = quantize_s8(graph, data, calibration=600).model
    assert _verified(model, data, tmp_path) == 0
