"""An int8 TFLite model as nn2mcu's graph and the s8 quantization TFLite chose for it, kept
as it is: scales, zero points, int8 weights and int32 biases from the file, multipliers,
shifts and activation ranges derived as TFLM derives them (``derive``).

Float QUANTIZE / DEQUANTIZE edges are stripped (the C takes and gives the int8 tensors
inside them); the shape arithmetic the converter writes for a Keras Flatten with an
unknown batch (SHAPE, STRIDED_SLICE, PACK, CONCATENATION of constants) is folded away.
Anything else nn2mcu does not take is refused in one message naming every such node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.tflite.converters import CONVERTERS, Refused, State, hwc, params
from nn2mcu.frontends.tflite.reader import Operator, TfliteModel, read_tflite
from nn2mcu.ir import Graph, Layer
from nn2mcu.ops.input import Input
from nn2mcu.ops.pad import Pad
from nn2mcu.passes.fold_pad import fold_pad
from nn2mcu.s8.model import ImportedFrom, S8Layer, TensorParams

FOLDED = ("SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION")


def is_tflite(path: Path) -> bool:
    return path.suffix.lower() == ".tflite"


@dataclass(frozen=True)
class TfliteImport:
    """What from_quantized takes for the s8 scheme, from one .tflite file."""

    graph: Graph
    tensors: dict[str, TensorParams]
    layers: dict[str, S8Layer]
    pool_activation: dict[str, tuple[int, int]]
    imported: ImportedFrom


def _float_model(model: TfliteModel) -> bool:
    """True when the weighted operators' filters are float (a float32 or dynamic-range
    model, not a full-integer one)."""
    weighted = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    return any(
        op.name in weighted and model.tensors[op.inputs[0]].dtype == "float32"
        for op in model.operators
    )


def _foldable(model: TfliteModel, op: Operator, constant: set[int]) -> bool:
    if op.name == "SHAPE":
        return True  # static shapes: the input's shape is known
    return op.name in FOLDED and all(i in constant or i < 0 for i in op.inputs)


def _constants(model: TfliteModel) -> set[int]:
    return {t.index for t in model.tensors if t.data is not None}


def _grouped(operators: list[Operator]) -> list[str]:
    """Unsupported builtins with the nodes of each: 'TANH (nodes 6, 8)'."""
    nodes: dict[str, list[int]] = {}
    for op in operators:
        name = f"{op.name} of activations" if op.name == "CONCATENATION" else op.name
        nodes.setdefault(name, []).append(op.index)
    return [
        f"{name} (node{'s' if len(found) > 1 else ''} {', '.join(map(str, found))})"
        for name, found in nodes.items()
    ]


def load_tflite(path: Path) -> TfliteImport:
    """The model in ``path`` as a graph and its int8 parameters (InputError naming the
    file and every unsupported node)."""
    model = read_tflite(path)
    where = str(path)
    if _float_model(model):
        raise InputError(
            f"{where}: a float32 TFLite model; nn2mcu imports full-integer int8 models "
            "(convert with a representative dataset and int8 input and output), and quantizes "
            "ONNX and Caffe models itself (nn2mcu quantize)"
        )
    problems: list[str] = []
    if model.subgraphs > 1:
        problems.append(f"{model.subgraphs} subgraphs (nn2mcu takes one)")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        problems.append(
            f"{len(model.inputs)} inputs and {len(model.outputs)} outputs (nn2mcu takes one each)"
        )
        raise InputError(f"{where}: not supported: {'; '.join(problems)}")
    start, end = model.inputs[0], model.outputs[0]
    operators = list(model.operators)
    float_input = float_output = False
    if model.tensors[start].dtype == "float32":
        first = [op for op in operators if start in op.inputs]
        if len(first) == 1 and first[0].name == "QUANTIZE":
            operators.remove(first[0])
            start, float_input = first[0].outputs[0], True
    if model.tensors[end].dtype == "float32":
        last = [op for op in operators if end in op.outputs]
        if len(last) == 1 and last[0].name == "DEQUANTIZE":
            operators.remove(last[0])
            end, float_output = last[0].inputs[0], True
    dynamic = [t for t in model.tensors if any(d < 0 for d in t.shape_signature[1:])]
    if dynamic:  # the static shapes are placeholders: converting them would mislead
        tensor = dynamic[0]
        problems.append(
            f"tensor '{tensor.name}' has a dynamic shape {list(tensor.shape_signature)} "
            f"(and {len(dynamic) - 1} more tensors)"
            if len(dynamic) > 1
            else f"tensor '{tensor.name}' has a dynamic shape {list(tensor.shape_signature)}"
        )
        unknown = [op for op in operators if op.name not in CONVERTERS and op.name not in FOLDED]
        raise InputError(f"{where}: not supported: {'; '.join(problems + _grouped(unknown))}")
    state = State(model)
    refused: set[int] = set()
    constant = _constants(model)
    try:
        input_tensor = model.tensors[start]
        shape = hwc(input_tensor)
        state.add(Layer("input", Input(shape)), input_tensor)
    except Refused as reason:
        problems.append(f"the input: {reason}")
    unnamed: list[Operator] = []  # nodes refused for what they are, no other reason
    for op in operators:
        if _foldable(model, op, constant):
            constant.update(op.outputs)
            continue
        convert = CONVERTERS.get(op.name)
        if convert is None:
            unnamed.append(op)
            refused.update(op.outputs)
            continue
        if any(i in refused for i in op.inputs):
            refused.update(op.outputs)  # what it reads is refused already
            continue
        try:
            convert(state, op)
        except Refused as reason:
            problems.append(f"node {op.index} {op.name}: {reason}")
            refused.update(op.outputs)
    if problems or unnamed:
        raise InputError(f"{where}: not supported: {'; '.join(problems + _grouped(unnamed))}")
    if end not in state.producer:
        raise InputError(f"{where}: the output tensor '{model.tensors[end].name}' is not computed")
    output = state.producer[end]
    try:
        params(model.tensors[end])
    except Refused as reason:
        raise InputError(f"{where}: the output: {reason}") from None
    graph = Graph(path.stem, tuple(state.layers), (output,))
    pads = [layer.name for layer in graph.layers if isinstance(layer.op, Pad)]
    if pads:
        try:
            graph = fold_pad(graph)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        for name in pads:
            state.tensors.pop(name)
            state.origin.pop(name)
    unused = [
        layer.name
        for layer in graph.layers
        if layer.name != output and not graph.consumers(layer.name)
    ]
    if unused:
        raise InputError(f"{where}: layer '{unused[0]}' feeds no later node and is not the output")
    imported = ImportedFrom(
        str(path.resolve()),
        hashlib.sha256(path.read_bytes()).hexdigest(),
        dict(state.origin),
        float_input,
        float_output,
        model.outputs[0],
    )
    return TfliteImport(graph, state.tensors, state.weighted, state.activations, imported)
