"""Large nets load in time proportional to their size: the lines of nn2mcu's own code run
by `nn2mcu inspect` (parsing, building the graph, folding BatchNorm, the table) per layer
are the same for 200 and 800 layers. A count, not a time: an extra pass over the layer
list for each layer (a name looked up by walking the list) makes it grow with the net."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from nn2mcu import cli

PACKAGE = str(Path(cli.__file__).resolve().parent)
BLOCK = """layer {{ name: "conv{i}" type: "Convolution" bottom: "{bottom}" top: "conv{i}"
  convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 }} }}
layer {{ name: "bn{i}" type: "BatchNorm" bottom: "conv{i}" top: "conv{i}" }}
layer {{ name: "scale{i}" type: "Scale" bottom: "conv{i}" top: "conv{i}" scale_param {{ bias_term: true }} }}
layer {{ name: "relu{i}" type: "ReLU" bottom: "conv{i}" top: "conv{i}" }}
"""


def _lines_run(argv: list[str]) -> int:
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    sys.settrace(calls)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    finally:
        sys.settrace(None)
    assert code == 0
    return count


def _net(path: Path, blocks: int) -> Path:
    parts = ['name: "chain"\ninput: "data"\ninput_shape { dim: 1 dim: 4 dim: 8 dim: 8 }\n']
    for i in range(blocks):
        parts.append(BLOCK.format(i=i, bottom="data" if i == 0 else f"conv{i - 1}"))
    path.write_text("".join(parts))
    return path


def test_inspect_work_per_layer_does_not_grow_with_the_net(tmp_path: Path) -> None:
    small = _net(tmp_path / "small.prototxt", 50)
    large = _net(tmp_path / "large.prototxt", 200)
    _lines_run(["inspect", str(small)])  # imports and caches out of the count
    per_layer_small = _lines_run(["inspect", str(small)]) / 200
    per_layer_large = _lines_run(["inspect", str(large)]) / 800
    assert per_layer_large <= 1.1 * per_layer_small, (per_layer_small, per_layer_large)
