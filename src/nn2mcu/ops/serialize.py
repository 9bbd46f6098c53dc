"""Graphs as JSON-ready dictionaries (structure only; weights travel separately).

Operator attributes are written by their dataclass fields and read back by the fields'
declared types (pairs and four-sided paddings as tuples, enums by value, shapes and nested
dataclasses field by field), so an operator module needs no code of its own here. Files of
schema version 1 carried a two-value ``pad`` meaning "the same on both sides": (p, q) is
read as (p, q, p, q).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from nn2mcu.errors import InputError
from nn2mcu.ir.graph import Graph, Layer
from nn2mcu.ir.op import Op
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import OPS

SCHEMA_VERSION = 2


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Shape):
        return value.as_list()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def op_to_dict(op: Op) -> dict[str, Any]:
    return {"kind": op.kind, **_plain(op)}


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    return {
        "name": graph.name,
        "outputs": list(graph.outputs),
        "layers": [
            {
                "name": layer.name,
                "op": op_to_dict(layer.op),
                "inputs": list(layer.inputs),
                "output_shape": graph.shapes[layer.name].as_list(),
            }
            for layer in graph.layers
        ],
    }


def _decode(kind: Any, value: Any) -> Any:
    """``value`` from JSON as the declared type ``kind``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        return None if value is None else _decode(options[0], value)
    if origin is tuple:
        arguments = typing.get_args(kind)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_decode(arguments[0], v) for v in value)
        if len(arguments) != len(value):
            raise ValueError(f"expected {len(arguments)} values, got {value!r}")
        return tuple(_decode(a, v) for a, v in zip(arguments, value, strict=True))
    if kind is Shape:
        return Shape(*value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{name: _decode(hints[name], v) for name, v in value.items()})
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def op_from_dict(data: dict[str, Any], schema_version: int = SCHEMA_VERSION) -> Op:
    kind = data.get("kind")
    if kind not in OPS:
        raise InputError(f"unknown operator kind {kind!r}")
    op_class = OPS[kind]
    hints = typing.get_type_hints(op_class)
    names = {f.name for f in dataclasses.fields(op_class)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k != "kind"}
    unknown = set(values) - names
    if unknown:
        raise InputError(f"operator {kind}: unknown attributes {sorted(unknown)}")
    if schema_version == 1 and isinstance(values.get("pad"), list) and len(values["pad"]) == 2:
        values["pad"] = values["pad"] * 2  # (p, q): the same on both sides
    try:
        decoded = {name: _decode(hints[name], value) for name, value in values.items()}
        return op_class(**decoded)
    except (TypeError, ValueError) as error:
        raise InputError(f"operator {kind}: {error}") from None


def graph_from_dict(data: dict[str, Any], schema_version: int = SCHEMA_VERSION) -> Graph:
    layers = tuple(
        Layer(
            name=entry["name"],
            op=op_from_dict(entry["op"], schema_version),
            inputs=tuple(entry["inputs"]),
        )
        for entry in data["layers"]
    )
    return Graph(name=data["name"], layers=layers, outputs=tuple(data["outputs"]))
