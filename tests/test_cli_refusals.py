"""Refusals that name what is wrong (issue 17, point 9 in part, and point 10): a net given
to train, a non-positive learning rate, an unknown scheme in model.json, -n out of range;
and verify -n N no longer prints the float accuracy of the whole test set beside the C's
accuracy on N images."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.codegen.conftest import nn2mcu
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "fashion_mnist"
GOLDEN = REPO / "tests" / "golden" / "networks" / "fashion-q7"


def _one_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return str(lines[0])


def test_train_names_a_net_given_as_a_solver(tmp_path: Path) -> None:
    net = EXAMPLE / "fashion_mnist_train_test.prototxt"
    line = _one_line(nn2mcu("train", net, "--data", "digits", cwd=tmp_path))
    assert "a net, not a solver" in line and str(net) in line


@pytest.mark.parametrize("rate", ["-1", "0"])
def test_a_non_positive_learning_rate_is_refused(rate: str, tmp_path: Path) -> None:
    solver = tmp_path / "solver.prototxt"
    text = (EXAMPLE / "fashion_mnist_solver.prototxt").read_text()
    solver.write_text(text.replace("base_lr: 0.001", f"base_lr: {rate}"))
    shutil.copyfile(
        EXAMPLE / "fashion_mnist_train_test.prototxt",
        tmp_path / "fashion_mnist_train_test.prototxt",
    )
    line = _one_line(nn2mcu("train", solver, "--data", "digits", cwd=tmp_path))
    assert f"base_lr {rate} must be positive" in line


def test_an_unknown_scheme_is_named(tmp_path: Path) -> None:
    document = json.loads((GOLDEN / "model.json").read_text())
    document["scheme"] = "q9"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    shutil.copyfile(GOLDEN / "model.npz", tmp_path / "model.npz")
    line = _one_line(nn2mcu("generate", path, "-o", tmp_path / "out", cwd=tmp_path))
    assert "scheme 'q9' is not one of q7, s8" in line and "schema_version" not in line


def test_verify_n_out_of_range_gives_the_range(tmp_path: Path) -> None:
    line = _one_line(
        nn2mcu("verify", GOLDEN / "model.json", "--data", "fashion-mnist", "-n", 0, cwd=tmp_path)
    )
    assert "-n 0: give 1..10000" in line


@pytest.mark.host
def test_verify_n_does_not_print_the_whole_sets_float_accuracy(tmp_path: Path) -> None:
    result = nn2mcu(
        "verify", GOLDEN / "model.json", "--data", "fashion-mnist", "-n", 10, "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == 10 and "float_accuracy" not in summary


FIXTURE = REPO / "tests" / "frontends" / "tflite" / "fixtures" / "residual.tflite"


@pytest.mark.parametrize(
    "command",
    [
        ("generate", GOLDEN / "model.json"),
        ("quantize", FIXTURE),
        ("quantize", EXAMPLE / "fashion_mnist_train_test.prototxt", "--weights",
         EXAMPLE / "not_needed.caffemodel", "--data", "digits"),
        ("mean", "--data", "digits"),
        ("run", FIXTURE, "--random", 2, "--target", "host"),
    ],
    ids=["generate", "quantize-tflite", "quantize-caffe", "mean", "run"],
)  # fmt: skip
def test_an_output_under_a_file_is_refused_before_the_work(
    command: tuple[object, ...], tmp_path: Path
) -> None:
    """Issue 17, point 3: -o whose parent is a file, one line, exit 2 (was a traceback,
    exit 1, after all of quantize's work)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    name = {"quantize": "model.json", "mean": "mean.binaryproto"}.get(str(command[0]), "out")
    line = _one_line(nn2mcu(*command, "-o", blocker / name, cwd=tmp_path))
    assert f"{blocker} is a file, not a directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


NET = EXAMPLE / "fashion_mnist_train_test.prototxt"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example net with random weights, written as a binary .caffemodel."""
    import numpy as np

    from nn2mcu.frontends.caffe import InputShapeSources
    from nn2mcu.frontends.caffe.weights import write_caffemodel
    from nn2mcu.frontends.load import load_network
    from nn2mcu.ir import Graph, Layer

    sources = InputShapeSources(data_shape=(1, 28, 28), data_spec="fashion-mnist")
    graph = load_network(NET, sources=sources)
    rng = np.random.default_rng(0)
    layers = []
    for layer in graph.layers:
        shapes = layer.op.weight_shapes(graph.input_shapes(layer))
        arrays = {
            key: rng.normal(0, 0.1, shape).astype(np.float32) for key, shape in shapes.items()
        }
        layers.append(Layer(layer.name, layer.op, layer.inputs, arrays))
    path = tmp_path_factory.mktemp("weights") / "random.caffemodel"
    write_caffemodel(Graph(graph.name, tuple(layers), graph.outputs), path)
    return path


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ((NET, "--data", "digits"), "a net, not a solver"),
        ((EXAMPLE / "missing_solver.prototxt", "--data", "digits"), "no such file"),
        # the net's Data layer takes its size from the 8x8 data unless the net's own mean
        # file (untracked) says 28x28: refused either way, inside the quantize stage
        (
            (NET, "--weights", "WEIGHTS", "--data", "digits", "--target", "host"),
            r"images are 8x8x1|'pool3' \(Pooling\): kernel 3 is larger than the padded input 2",
        ),
    ],
    ids=["net-without-weights", "missing-solver", "wrong-image-size"],
)
def test_run_leaves_nothing_behind_when_it_refuses(
    arguments: tuple[object, ...], expected: str, weights: Path, tmp_path: Path
) -> None:
    """Issue 17, point 4: no empty output directory, no stages/ folder (the last case
    refuses inside the quantize stage, after the stages folder was made)."""
    out = tmp_path / "run"
    files = {"WEIGHTS": weights}
    given = tuple(files.get(str(value), value) for value in arguments)
    line = _one_line(nn2mcu("run", *given, "-o", out, cwd=tmp_path))
    assert re.search(expected, line), line
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        (
            "quantize",
            NET,
            "--weights",
            "WEIGHTS",
            "--input-shape",
            "1,28,28",
            "--data",
            "digits",
            "-o",
            "model.json",
        ),
        ("verify", GOLDEN / "model.json", "--data", "digits"),
    ],
    ids=["quantize", "verify"],
)
def test_data_that_does_not_fit_the_net_names_both_sizes(
    command: tuple[object, ...], weights: Path, tmp_path: Path
) -> None:
    """Issue 17, point 5: one line with both sizes, not a numpy or torch traceback."""
    files = {"WEIGHTS": weights}
    given = tuple(files.get(str(value), value) for value in command)
    line = _one_line(nn2mcu(*given, cwd=tmp_path))
    assert "images are 8x8x1 (HxWxC), the network takes 28x28x1" in line


def test_a_second_run_into_a_directory_in_use_is_refused(tmp_path: Path) -> None:
    """Issue 17, point 9: two runs into one directory both trained; now the second is
    refused, naming the lock file and the process holding it."""
    import os

    from nn2mcu.pipeline.lock import LOCK_NAME, run_lock

    out = tmp_path / "run"
    with run_lock(out):
        line = _one_line(nn2mcu("run", FIXTURE, "--random", 2, "--target", "host", "-o", out,
                                cwd=tmp_path))  # fmt: skip
        assert f"{out / LOCK_NAME} is held by process {os.getpid()}" in line
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    result = nn2mcu("run", FIXTURE, "--random", 2, "--target", "host", "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # free again once the holder is done
