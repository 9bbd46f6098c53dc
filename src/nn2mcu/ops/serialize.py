"""Graphs as JSON-ready dictionaries (structure only; weights travel separately)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from nn2mcu.errors import InputError
from nn2mcu.ir.graph import Graph, Layer
from nn2mcu.ir.op import Op
from nn2mcu.ir.shape import Shape


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


def _field_value(op_class: type[Op], name: str, value: Any) -> Any:
    from nn2mcu.ops import Input, Pool2D, PoolMethod, Preprocessing

    if name in ("kernel", "stride", "pad"):
        return (int(value[0]), int(value[1]))
    if op_class is Pool2D and name == "method":
        return PoolMethod(value)
    if op_class is Input and name == "shape":
        return Shape(*value)
    if op_class is Input and name == "preprocessing":
        return Preprocessing(
            mean_file=value["mean_file"],
            mean_values=tuple(value["mean_values"]),
            scale=float(value["scale"]),
        )
    return value


def op_from_dict(data: dict[str, Any]) -> Op:
    from nn2mcu.ops import OPS

    kind = data.get("kind")
    if kind not in OPS:
        raise InputError(f"unknown operator kind {kind!r}")
    op_class = OPS[kind]
    names = {f.name for f in dataclasses.fields(op_class)}  # type: ignore[arg-type]
    values = {k: _field_value(op_class, k, v) for k, v in data.items() if k != "kind"}
    unknown = set(values) - names
    if unknown:
        raise InputError(f"operator {kind}: unknown attributes {sorted(unknown)}")
    return op_class(**values)


def graph_from_dict(data: dict[str, Any]) -> Graph:
    layers = tuple(
        Layer(name=entry["name"], op=op_from_dict(entry["op"]), inputs=tuple(entry["inputs"]))
        for entry in data["layers"]
    )
    return Graph(name=data["name"], layers=layers, outputs=tuple(data["outputs"]))
