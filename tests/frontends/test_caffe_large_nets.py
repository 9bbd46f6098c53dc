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


def _both_parsers(path: Path) -> tuple[object, object]:
    from nn2mcu.frontends.caffe import files

    parsed = []
    for threshold in (1 << 62, 0):  # protobuf's Python parser, then protoc's
        files.PROTOC_FROM_BYTES, saved = threshold, files.PROTOC_FROM_BYTES
        try:
            parsed.append(files.read_net_or_solver(path))
        finally:
            files.PROTOC_FROM_BYTES = saved
    return parsed[0], parsed[1]


def test_protoc_and_python_parse_real_files_alike(tmp_path: Path) -> None:
    """Files from 128 KiB on go to protoc's C++ parser: on the repository's and ARM's
    prototxt files, nets and solvers, and on a 1.2 MB net, both parsers give the same
    message."""
    from tests.conftest import REPO, shared_dir

    paths = sorted((REPO / "examples").rglob("*.prototxt"))
    paths += sorted((shared_dir() / "data" / "arm-cmsisnn-cifar10").glob("*.prototxt"))
    paths.append(_net(tmp_path / "large.prototxt", 3000))
    assert len(paths) > 8 and (tmp_path / "large.prototxt").stat().st_size > 1 << 20
    for path in paths:
        python, protoc = _both_parsers(path)
        assert python == protoc, path


def test_a_large_file_with_an_error_names_its_line(tmp_path: Path) -> None:
    path = _net(tmp_path / "large.prototxt", 3000)
    from nn2mcu.frontends.caffe import files

    assert path.stat().st_size > files.PROTOC_FROM_BYTES  # parsed by protoc first
    lines = path.read_text().splitlines()
    wrong = next(i for i in range(5000, len(lines)) if "kernel_size" in lines[i])
    lines[wrong] = lines[wrong].replace("kernel_size", "kernal_size")
    path.write_text("\n".join(lines) + "\n")
    from nn2mcu.errors import InputError
    from nn2mcu.frontends.caffe.files import read_net_prototxt

    try:
        read_net_prototxt(path)
    except InputError as error:
        assert str(error).startswith(f"{path}:{wrong + 1}:"), error
        assert "kernal_size" in str(error)
    else:
        raise AssertionError("the misspelt field was accepted")
