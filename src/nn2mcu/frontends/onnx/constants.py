"""Constant folding of an ONNX graph: initializers, Constant nodes, every node whose
inputs are all constant (evaluated by onnx's reference evaluator, one node at a time),
CastLike of a constant to an activation's type (float32), and Shape of a tensor whose
shape shape inference knows (an unknown batch size counts as 1)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from nn2mcu.errors import InputError

Constants = dict[str, np.ndarray]


def static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor shape that shape inference knows, with an unknown batch size taken as
    1 (the generated code runs one image at a time)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is a help, not a requirement
        inferred = model
    shapes: dict[str, tuple[int, ...]] = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        if not info.type.tensor_type.HasField("shape") or not dims:
            continue
        if all(d.HasField("dim_value") for d in dims[1:]):
            batch = int(dims[0].dim_value) if dims[0].HasField("dim_value") else 1
            shapes[info.name] = (batch, *(int(d.dim_value) for d in dims[1:]))
    return shapes


def _evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    graph = helper.make_graph(
        [node],
        "fold",
        [
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for name, v in feeds.items()
        ],
        [
            helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
            for name in node.output
            if name
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(result) for result in results]


def shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    """The output of a Shape node (with its start and end attributes, opset 15)."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    start, end = attributes.get("start", 0), attributes.get("end", len(shape))
    return np.asarray(shape[slice(start, end)], dtype=np.int64)


def fold(
    model: onnx.ModelProto, opset: int, shapes: dict[str, tuple[int, ...]], where: str
) -> tuple[Constants, list[onnx.NodeProto]]:
    """The constant tensors, and the nodes left to convert (in graph order)."""
    constants: Constants = {}
    for init in model.graph.initializer:
        try:
            constants[init.name] = numpy_helper.to_array(init)
        except (ValueError, TypeError) as error:
            raise InputError(f"{where}: initializer '{init.name}': {error}") from None
    remaining = []
    for node in model.graph.node:
        named = [name for name in node.input if name]
        if node.op_type == "Constant" or (named and all(n in constants for n in named)):
            try:
                values = _evaluate(node, {n: constants[n] for n in named}, opset)
            except Exception as error:
                raise InputError(
                    f"{where}: node '{node.name}' ({node.op_type}) on constants: {error}"
                ) from None
            constants.update(zip([n for n in node.output if n], values, strict=False))
        elif node.op_type == "CastLike" and node.input[0] in constants:
            # a constant cast like an activation: the activations nn2mcu reads are float32
            constants[node.output[0]] = np.asarray(constants[node.input[0]], np.float32)
        elif node.op_type == "Shape" and node.input[0] in shapes:
            constants[node.output[0]] = shape_value(node, shapes[node.input[0]])
        else:
            remaining.append(node)
    return constants, remaining
