"""A .tflite file read into plain records with the ``tflite`` package's generated schema
code (no hand-written flatbuffer parsing): tensors with their shapes, types, constant data
and quantization, operators with their builtin names, inputs, outputs and options.

Anything the schema code cannot read (a truncated file, another format) is an InputError
naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError

# tflite.TensorType values and what numpy holds them as
DTYPES: dict[int, tuple[str, Any]] = {
    0: ("float32", np.float32),
    1: ("float16", np.float16),
    2: ("int32", np.int32),
    3: ("uint8", np.uint8),
    4: ("int64", np.int64),
    6: ("bool", np.bool_),
    7: ("int16", np.int16),
    9: ("int8", np.int8),
    10: ("float64", np.float64),
    17: ("int4", np.int8),
}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: str
    data: npt.NDArray[Any] | None  # constant tensors only
    scales: npt.NDArray[np.float32]  # empty when not quantized
    zero_points: npt.NDArray[np.int64]
    quantized_dimension: int

    @property
    def quantized(self) -> bool:
        return self.scales.size > 0

    @property
    def scale(self) -> float:
        """The per-tensor scale as the float32 TFLite stores, widened exactly to a double."""
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points.size else 0


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # the builtin's name, CONV_2D, ...; CUSTOM:<code> for custom operators
    inputs: tuple[int, ...]  # -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: Any  # the tflite.<Name>Options object, or None
    version: int = 1


@dataclass(frozen=True)
class TfliteModel:
    path: Path
    description: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int
    names: dict[int, str] = field(default_factory=dict)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


def _options(op: Any, name: str) -> Any:
    """The operator's builtin options as the schema's class for them, or None."""
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return None
    class_name = {
        "CONV_2D": "Conv2DOptions",
        "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
        "FULLY_CONNECTED": "FullyConnectedOptions",
        "ADD": "AddOptions",
        "AVERAGE_POOL_2D": "Pool2DOptions",
        "MAX_POOL_2D": "Pool2DOptions",
        "SOFTMAX": "SoftmaxOptions",
        "RESHAPE": "ReshapeOptions",
        "MEAN": "ReducerOptions",
        "CONCATENATION": "ConcatenationOptions",
        "STRIDED_SLICE": "StridedSliceOptions",
        "PACK": "PackOptions",
    }.get(name)
    if class_name is None:
        return None
    options = getattr(tflite, class_name)()
    options.Init(table.Bytes, table.Pos)
    return options


def _tensor(model: Any, graph: Any, index: int) -> Tensor:
    t = graph.Tensors(index)
    type_code = t.Type()
    dtype, numpy_type = DTYPES.get(type_code, (f"type {type_code}", None))
    shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = (
        tuple(int(v) for v in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    )
    data = None
    buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
    if buffer is not None and numpy_type is not None:
        raw: bytes | None = None
        if buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
        elif buffer.Offset() > 1:
            raise InputError(
                f"tensor '{t.Name().decode()}': constant data outside the flatbuffer "
                "(models over 2 GB) is not supported"
            )
        if raw is not None:
            values = np.frombuffer(raw, dtype=numpy_type)
            data = values.reshape(shape) if dtype != "int4" else values
    q = t.Quantization()
    scales = np.zeros(0, np.float32)
    zero_points = np.zeros(0, np.int64)
    dimension = 0
    if q is not None and q.ScaleLength():
        scales = np.asarray(q.ScaleAsNumpy(), dtype=np.float32)
        zero_points = np.asarray(
            q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(scales.size), np.int64
        )
        dimension = int(q.QuantizedDimension())
    return Tensor(
        index, t.Name().decode(errors="replace"), shape, signature, dtype, data, scales,
        zero_points, dimension,
    )  # fmt: skip


def read_tflite(path: Path) -> TfliteModel:
    """The model in ``path``: its first subgraph's tensors and operators."""
    import tflite
    from tflite.utils import BUILTIN_OPCODE2NAME

    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror})") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise InputError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        model = tflite.Model.GetRootAs(buf, 0)
        subgraphs = model.SubgraphsLength()
        if subgraphs < 1:
            raise InputError(f"{path}: the model has no subgraph")
        graph = model.Subgraphs(0)
        tensors = tuple(_tensor(model, graph, i) for i in range(graph.TensorsLength()))
        operators = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == 32:  # CUSTOM
                name = f"CUSTOM:{code.CustomCode().decode(errors='replace')}"
            else:
                name = BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}")
            operators.append(
                Operator(
                    i,
                    name,
                    tuple(int(v) for v in op.InputsAsNumpy()) if op.InputsLength() else (),
                    tuple(int(v) for v in op.OutputsAsNumpy()) if op.OutputsLength() else (),
                    _options(op, name),
                    int(code.Version()),
                )
            )
        description = (model.Description() or b"").decode(errors="replace")
        inputs = tuple(int(v) for v in graph.InputsAsNumpy()) if graph.InputsLength() else ()
        outputs = tuple(int(v) for v in graph.OutputsAsNumpy()) if graph.OutputsLength() else ()
        count = len(tensors)
        for operator in operators:
            for index in (*operator.inputs, *operator.outputs):
                if not -1 <= index < count:
                    raise InputError(
                        f"operator {operator.index} ({operator.name}) refers to tensor {index}; "
                        f"the subgraph has {count}"
                    )
        for index in (*inputs, *outputs):
            if not 0 <= index < count:
                raise InputError(f"the subgraph's input or output is tensor {index} of {count}")
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    except Exception as error:  # the generated code raises whatever a bad offset gives
        raise InputError(
            f"{path}: not a readable TFLite model (truncated or damaged: {type(error).__name__})"
        ) from None
    return TfliteModel(path, description, tensors, tuple(operators), inputs, outputs, subgraphs)
