"""Loading an ONNX model (opset 11 to 21) into the IR.

Constants are folded first; then every remaining node must have a converter, and all
that have none are named in one error before any work. The graph input (N, C, H, W)
becomes an Input layer of shape H x W x C whose preprocessing, x = (pixel - mean) *
scale, comes from the caller or from the model's metadata_props nn2mcu.mean and
nn2mcu.scale. Weights arrive in ONNX's NCHW layouts and are turned into the IR's (OHWI;
inner-product columns permuted from CHW to HWC after a flatten); BatchNormalization is
folded into the layer before it. Unless told otherwise, the IR's float reference is then
checked against onnxruntime (check.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx.constants import fold, static_shapes
from nn2mcu.frontends.onnx.converters import CONVERTERS, Unsupported, attributes
from nn2mcu.ir import Graph, Layer, Op, Shape
from nn2mcu.ops import FullyConnected, Input, Preprocessing
from nn2mcu.passes import fold_batchnorm, fold_pad

OPSETS = range(11, 22)


@dataclass(frozen=True)
class OnnxNet:
    graph: Graph  # weights folded
    tensors: dict[str, str]  # IR layer -> the ONNX tensor holding the same values
    model: onnx.ModelProto


def parse_mean(text: str, where: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(
            f"{where}: mean '{text}' is not a number or comma-separated numbers"
        ) from None
    return values  # one value, or one per channel (checked against the input)


def _preprocessing(
    model: onnx.ModelProto,
    path: Path,
    mean: tuple[float, ...] | None,
    scale: float | None,
    channels: int,
) -> Preprocessing:
    props = {p.key: p.value for p in model.metadata_props}
    if mean is None and "nn2mcu.mean" in props:
        mean = parse_mean(props["nn2mcu.mean"], f"{path}: metadata_props nn2mcu.mean")
    if scale is None and "nn2mcu.scale" in props:
        try:
            scale = float(props["nn2mcu.scale"])
        except ValueError:
            raise InputError(
                f"{path}: metadata_props nn2mcu.scale '{props['nn2mcu.scale']}' is not a number"
            ) from None
    mean = mean or (0.0,)
    if len(mean) not in (1, channels):
        raise InputError(f"{path}: {len(mean)} mean values for {channels} input channels")
    scale = 1.0 if scale is None else scale
    if not scale > 0:
        raise InputError(f"{path}: scale {scale} must be positive")
    return Preprocessing(mean_values=tuple(mean), scale=scale)


def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as error:
        raise InputError(f"{path}: not an ONNX model ({str(error).splitlines()[0]})") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset not in OPSETS:
        raise InputError(f"{path}: opset {opset}; nn2mcu reads opsets 11 to 21")
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # the onnx library's own message names the fault
        raise InputError(f"{path}: not a valid ONNX model ({str(error).splitlines()[0]})") from None
    return model


def _layer_name(node: onnx.NodeProto, taken: set[str]) -> str:
    base = node.name or node.output[0] or node.op_type
    base = re.sub(r"^/+", "", base).replace("/", "_") or node.op_type
    name, index = base, 1
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    taken.add(name)
    return name


def read_onnx(
    path: Path, *, mean: tuple[float, ...] | None = None, scale: float | None = None
) -> OnnxNet:
    """The IR of an ONNX model (weights folded), without the float check."""
    model = _read(path)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InputError(f"{path}: {len(inputs)} graph inputs; nn2mcu takes one image input")
    dims = inputs[0].type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(sizes) != 4 or None in sizes[1:]:
        raise InputError(
            f"{path}: input '{inputs[0].name}' has shape {sizes}; nn2mcu takes "
            "N x C x H x W with fixed C, H, W"
        )
    _, c, h, w = sizes
    shapes = static_shapes(model)
    constants, nodes = fold(model, opset, shapes, str(path))
    unsupported = [
        f"'{n.name or n.output[0]}' ({n.op_type})" for n in nodes if n.op_type not in CONVERTERS
    ]
    if unsupported:
        raise InputError(f"{path}: unsupported nodes: {', '.join(unsupported)}")

    input_name = re.sub(r"[^0-9A-Za-z_]", "_", inputs[0].name) or "input"
    prep = _preprocessing(model, path, mean, scale, int(c))  # type: ignore[arg-type]
    shape = Shape(int(h), int(w), int(c))  # type: ignore[arg-type]
    layers: list[tuple[str, Op, tuple[str, ...], dict[str, np.ndarray]]] = [
        (input_name, Input(shape=shape, preprocessing=prep), (), {})
    ]
    producer = {inputs[0].name: input_name}  # ONNX tensor -> IR layer
    tensor_of = {input_name: inputs[0].name}
    shape_of = {input_name: shape}
    readers: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    taken = {input_name}
    for node in nodes:
        data = next((n for n in node.input if n and n not in constants), None)
        where = f"{path}: node '{node.name or node.output[0]}' ({node.op_type})"
        if data is None or data not in producer:
            raise InputError(f"{where}: its input is not computed from the graph input")
        source = producer[data]
        try:
            converted = CONVERTERS[node.op_type](
                node, attributes(node), constants, shape_of[source]
            )
        except (Unsupported, ValueError) as reason:  # ValueError: an operator's own checks
            raise InputError(f"{where}: {reason}") from None
        if converted.alias:
            producer[node.output[0]] = source
            continue
        if converted.bias_for_matmul is not None:
            last = layers[-1]
            matmul = last[1]
            if (
                last[0] != source
                or not isinstance(matmul, FullyConnected)
                or matmul.bias
                or readers.get(data, 0) != 1
            ):
                raise InputError(
                    f"{where}: Add is supported only as the bias of the MatMul before it"
                )
            bias = converted.bias_for_matmul
            if bias.size != matmul.out_features:
                raise InputError(
                    f"{where}: a bias of {bias.size} values for {matmul.out_features} outputs"
                )
            layers[-1] = (
                last[0],
                FullyConnected(out_features=matmul.out_features, bias=True),
                last[2],
                {**last[3], "bias": bias},
            )
            producer[node.output[0]] = source
            tensor_of[source] = node.output[0]
            continue
        if converted.all_inputs:
            sources = tuple(producer[n] for n in node.input if n)
            if any(n not in producer for n in node.input if n):
                raise InputError(f"{where}: its inputs are not all computed from the graph input")
        else:
            sources = (source,)
        for op, weights in converted.ops:
            name = _layer_name(node, taken)
            try:
                out = op.output_shape([shape_of[s] for s in sources])
            except Exception as error:
                raise InputError(f"{where}: {error}") from None
            layers.append((name, op, sources, weights))
            shape_of[name] = out
            source = name
            sources = (name,)
        producer[node.output[0]] = source
        tensor_of[source] = node.output[0]
    outputs = [o.name for o in model.graph.output]
    if len(outputs) != 1 or outputs[0] not in producer:
        raise InputError(f"{path}: {len(outputs)} graph outputs; nn2mcu takes one")
    graph = _with_weights(path.stem, layers, producer[outputs[0]])
    for layer in graph.layers:  # after folding, a layer holds what its BatchNorm gave
        if layer.op.folded_into_producer:
            root = layer.inputs[0]
            while graph.layer(root).op.folded_into_producer:
                root = graph.layer(root).inputs[0]
            if layer.name in tensor_of:
                tensor_of[root] = tensor_of[layer.name]
    folded = fold_pad(fold_batchnorm(graph))
    kept = {layer.name for layer in folded.layers}
    return OnnxNet(folded, {k: v for k, v in tensor_of.items() if k in kept}, model)


def _with_weights(
    name: str, layers: list[tuple[str, Op, tuple[str, ...], dict[str, np.ndarray]]], output: str
) -> Graph:
    """The graph with IR weights: the layouts need the graph (inner products the shape
    their input was flattened from)."""
    bare = Graph(name, tuple(Layer(n, op, inputs) for n, op, inputs, _ in layers), (output,))
    final = []
    for layer_name, op, inputs, weights in layers:
        if weights:
            source = bare.flatten_source(inputs[0]) if inputs else bare.shapes[layer_name]
            weights = {
                k: np.asarray(v, np.float32) for k, v in op.ir_weights(weights, source).items()
            }
        final.append(Layer(layer_name, op, inputs, weights))
    return Graph(name, tuple(final), (output,))
