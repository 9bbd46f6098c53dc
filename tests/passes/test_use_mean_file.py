"""use_mean_file: every input layer takes the given mean file, its own mean dropped."""

from __future__ import annotations

from pathlib import Path

from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import Input, Preprocessing, ReLU
from nn2mcu.passes import use_mean_file


def test_the_mean_file_replaces_mean_values(tmp_path: Path) -> None:
    prep = Preprocessing(mean_values=(125.0, 123.0, 114.0), scale=0.5)
    graph = Graph(
        "g",
        (Layer("data", Input(shape=Shape(4, 4, 3), preprocessing=prep)),
         Layer("relu", ReLU(), ("data",))),
        ("relu",),
    )  # fmt: skip
    changed = use_mean_file(graph, tmp_path / "m.binaryproto")
    op = changed.layer("data").op
    assert isinstance(op, Input)
    assert op.preprocessing.mean_file == str((tmp_path / "m.binaryproto").resolve())
    assert op.preprocessing.mean_values == () and op.preprocessing.scale == 0.5
    assert changed.layer("relu") == graph.layer("relu") and changed.outputs == ("relu",)
