"""Valid inputs for the fuzz tier, made in a directory: a Caffe net (BatchNorm, Scale,
Eltwise, both poolings, InnerProduct, Softmax) with random weights as .caffemodel and
.caffemodel.h5, a net reading a mean file and the mean file, an ONNX model built with
onnx.helper, tiny IDX and CIFAR-10 (binary and python) data sets; the TFLite fixtures and
the golden model.json files are in the repository."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nn2mcu.frontends.caffe import load_net
from nn2mcu.frontends.caffe.weights import write_caffemodel, write_caffemodel_h5
from nn2mcu.ir import Graph
from nn2mcu.mean import write_mean_file

NET = """name: "fuzz"
input: "data"
input_shape { dim: 1 dim: 3 dim: 12 dim: 12 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2a" type: "Convolution" bottom: "pool1" top: "conv2a"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "conv2b" type: "Convolution" bottom: "pool1" top: "conv2b"
        convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "conv2a" bottom: "conv2b" top: "sum"
        eltwise_param { operation: SUM } }
layer { name: "relu2" type: "ReLU" bottom: "sum" top: "sum" }
layer { name: "pool2" type: "Pooling" bottom: "sum" top: "pool2"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool2" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
"""
MEAN_NET = """name: "mean"
layer { name: "data" type: "Data" top: "data" top: "label"
        transform_param { mean_file: "mean.binaryproto" scale: 0.0078125 }
        data_param { source: "nowhere_lmdb" batch_size: 4 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "ip" type: "InnerProduct" bottom: "conv1" top: "ip" inner_product_param { num_output: 3 } }
"""


def caffe_seeds(directory: Path) -> None:
    net = directory / "net.prototxt"
    net.write_text(NET)
    graph = load_net(net)
    rng = np.random.default_rng(0)
    layers = []
    for layer in graph.layers:
        shapes = layer.op.weight_shapes(graph.input_shapes(layer))
        weights = {
            key: (
                np.abs(rng.normal(size=shape)) + 0.5
                if key == "variance"
                else rng.normal(size=shape) * 0.1
            )
            for key, shape in shapes.items()
        }
        layers.append(dataclasses.replace(layer, weights=weights))
    trained = Graph(graph.name, tuple(layers), graph.outputs)
    write_caffemodel(trained, directory / "w.caffemodel")
    write_caffemodel_h5(trained, directory / "w.caffemodel.h5")
    (directory / "mean_net.prototxt").write_text(MEAN_NET)
    write_mean_file(np.full((3, 8, 8), 100.0, np.float32), directory / "mean.binaryproto")


def onnx_seed(path: Path) -> None:
    """conv (3 -> 4, 3x3, pad 1) - relu - max pool 2 - flatten - gemm (64 -> 3)."""
    rng = np.random.default_rng(1)
    initializers = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(3, 64)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(size=3).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def idx_seed(directory: Path) -> None:
    directory.mkdir()
    rng = np.random.default_rng(2)
    for prefix, count in (("train", 6), ("t10k", 3)):
        images = rng.integers(0, 256, (count, 5, 4))
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        labels = rng.integers(0, 10, count)
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_seeds(binary: Path, python: Path) -> None:
    rng = np.random.default_rng(3)
    binary.mkdir()
    python.mkdir()
    for name in CIFAR_BATCHES:
        records = rng.integers(0, 256, (2, 1 + 3 * 32 * 32)).astype(np.uint8)
        records[:, 0] %= 10
        (binary / f"{name}.bin").write_bytes(records.tobytes())
        batch = {b"data": records[:, 1:], b"labels": [int(v) for v in records[:, 0]]}
        (python / name).write_bytes(pickle.dumps(batch, protocol=2))
