"""Graphs as JSON: four-sided padding round-trips; schema version 1's two-value padding
(the same on both sides) is read as (p, q, p, q), and refused in version 2 files."""

from __future__ import annotations

import json

import pytest

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import Conv2D, Input, Pool2D, PoolMethod, Preprocessing
from nn2mcu.ops.serialize import graph_from_dict, graph_to_dict, op_from_dict


def test_four_sided_padding_round_trips() -> None:
    graph = Graph(
        "g",
        (
            Layer("data", Input(Shape(9, 8, 2), Preprocessing(mean_values=(1.0, 2.0)))),
            Layer("conv", Conv2D(out_channels=3, kernel=(3, 2), stride=(2, 1), pad=(0, 1, 2, 0)), ("data",)),
            Layer("pool", Pool2D(PoolMethod.MAX, kernel=(3, 3), stride=(2, 2), pad=(0, 0, 1, 1), ceil_mode=False), ("conv",)),
        ),
    )  # fmt: skip
    again = graph_from_dict(json.loads(json.dumps(graph_to_dict(graph))))
    assert again == graph
    assert again.shapes["conv"] == Shape(5, 8, 3) and again.shapes["pool"] == Shape(2, 4, 3)


def test_version_1_padding_is_the_same_on_both_sides() -> None:
    data = {
        "kind": "conv2d",
        "out_channels": 4,
        "kernel": [5, 3],
        "stride": [1, 1],
        "pad": [2, 1],
        "bias": True,
    }
    assert op_from_dict(data, schema_version=1) == Conv2D(
        out_channels=4, kernel=(5, 3), pad=(2, 1, 2, 1)
    )
    pool = {
        "kind": "pool2d",
        "method": "AVE",
        "kernel": [3, 3],
        "stride": [2, 2],
        "pad": [1, 1],
        "ceil_mode": True,
    }
    assert op_from_dict(pool, schema_version=1).pad == (1, 1, 1, 1)  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="operator conv2d: expected 4 values"):
        op_from_dict(data, schema_version=2)
