"""The nn2mcu command line, run as a user runs it (the installed console script)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import EXAMPLE, EXAMPLE_NET, REPO, write

SCRIPT = Path(sys.executable).parent / "nn2mcu"


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_inspect_json_of_the_example_gives_the_seed_figures() -> None:
    result = run(
        "inspect",
        "examples/cifar10_m4_small/cifar10_m4_small_train_test.prototxt",
        "--input-shape",
        "3,32,32",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    totals = report["totals"]
    assert totals["weight_bytes"] == 33120
    assert totals["bias_params"] == 90
    assert totals["params"] == 33210
    assert totals["macs"] == 6558720
    assert totals["peak_activation_bytes"] == 40960
    first = report["layers"][1]
    assert first["name"] == "conv1"
    assert first["type"] == "Convolution"
    assert first["output_shape"] == [32, 32, 32]
    assert first["kernel"] == [5, 5] and first["stride"] == [1, 1] and first["pad"] == [2, 2, 2, 2]
    assert (first["macs"], first["params"], first["weight_bytes"]) == (2457600, 2432, 2400)
    assert report["layers"][-1]["output_shape"] == [1, 1, 10]


def test_inspect_table_and_solver() -> None:
    result = run(
        "inspect", EXAMPLE / "cifar10_small_solver_lr1.prototxt", "--input-shape", "3,32,32"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "CIFAR10_small (no weights loaded)"
    assert lines[1].split()[:3] == ["layer", "type", "output"]
    assert any(
        line.startswith("conv1 ") and "5x5/1/2" in line and "2,457,600" in line for line in lines
    )
    assert any(line.startswith("pool1 ") and "MAX 3x3/2/0" in line for line in lines)
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "6,558,720", "33,210", "33,120", "peak", "40,960"]


def test_inspect_with_arm_weights(arm_models: Path) -> None:
    result = run(
        "inspect",
        arm_models / "cifar10_m7_train_test.prototxt",
        "--weights",
        arm_models / "cifar10_m7_iter_300000.caffemodel.h5",
        "--input-shape",
        "3,32,32",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["has_weights"] is True
    assert report["totals"]["weight_bytes"] == 89440
    assert report["totals"]["macs"] == 12298240


def test_version_and_help() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("nn2mcu 0.1.0")
    top = run("--help")
    assert top.returncode == 0 and "inspect" in top.stdout
    sub = run("inspect", "--help")
    assert sub.returncode == 0
    for option in ("--weights", "--input-shape", "--data", "--phase", "--json", "--debug"):
        assert option in sub.stdout


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nn2mcu", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("nn2mcu ")


def _bad_h5(path: Path) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv1/0", data=np.zeros((16, 3, 5, 5), np.float32))
        handle.create_dataset("data/conv1/1", data=np.zeros(16, np.float32))
    return path


def _binary(path: Path) -> Path:
    path.write_bytes(b"\x80\xff")
    return path


BAD_INPUTS = {
    "malformed": (
        lambda d: [write(d / "n.prototxt", 'name: "x"\nlayer {\n  nam: "c"\n}\n')],
        r"n\.prototxt:3:3: .*nam",
    ),
    "unsupported": (
        lambda d: [
            write(
                d / "n.prototxt",
                'input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
                'layer { name: "n1" type: "LRN" bottom: "data" top: "n1" }',
            )
        ],
        r"layer 'n1' has type 'LRN', which nn2mcu does not support; supported: ",
    ),
    "weights mismatch": (
        lambda d: [
            EXAMPLE_NET,
            "--input-shape",
            "3,32,32",
            "--weights",
            _bad_h5(d / "w.caffemodel.h5"),
        ],
        r"layer 'conv1' \(Convolution\) blob 0 has shape \[16, 3, 5, 5\], "
        r"the net expects \[32, 3, 5, 5\]",
    ),
    "missing weights file": (
        lambda d: [EXAMPLE_NET, "--input-shape", "3,32,32", "--weights", d / "none.caffemodel"],
        r"none\.caffemodel: no such file",
    ),
    "solver net": (
        lambda d: [write(d / "s.prototxt", 'net: "gone.prototxt"\nbase_lr: 0.1\n')],
        r"net 'gone\.prototxt' not found; looked in ",
    ),
    "no input shape": (
        lambda d: [write(d / "net.prototxt", EXAMPLE_NET.read_text())],
        r"layer 'data' \(Data\) carries no input shape and reads 'cifar10_test_lmdb', a "
        r"database nn2mcu does not read \(LMDB/LevelDB\): name the data set with --data SPEC, "
        r"give --input-shape C,H,W, or a mean_file that exists",
    ),
    "missing net": (lambda d: [d / "nothing.prototxt"], r"nothing\.prototxt: no such file"),
    "binary as net": (lambda d: [_binary(d / "bin.prototxt")], r"bin\.prototxt: not a text file"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    make_args, pattern = BAD_INPUTS[case]
    args = make_args(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = run("inspect", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nn2mcu: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert sorted(tmp_path.rglob("*")) == before


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("inspect", tmp_path / "nothing.prototxt", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "InputError" in result.stderr


def test_bad_input_shape_is_a_usage_error() -> None:
    result = run("inspect", EXAMPLE_NET, "--input-shape", "3,32")
    assert result.returncode == 2
    assert "'3,32' is not C,H,W" in result.stderr


def test_mean_and_train_from_the_command_line(tmp_path: Path) -> None:
    from tests.train.conftest import Files

    files = Files(tmp_path)
    net = files.root / "net.prototxt"
    net.write_text(net.read_text().replace("mean_value: 128", 'mean_file: "mean.binaryproto"'))
    mean = run("mean", "--data", "digits", "-o", tmp_path / "mean.binaryproto", cwd=tmp_path)
    assert mean.returncode == 0, mean.stderr
    assert mean.stdout.strip().endswith("mean of 1437 training images, 1x8x8")
    solver = files.solver("s.prototxt", max_iter=20, snapshot=0, extra="snapshot_format: HDF5")
    result = run("train", solver, "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("iteration 0: test accuracy ")
    assert any(line.startswith("trained to iteration 20 in ") for line in lines)
    assert lines[-1] == f"weights: {tmp_path / 'snap' / 'tiny_iter_20.caffemodel.h5'}"
    assert "train:" not in result.stderr  # no progress bar when stderr is not a terminal


def test_train_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    from tests.train.conftest import Files

    files = Files(tmp_path)
    net = files.root / "net.prototxt"
    net.write_text(net.read_text().replace("mean_value: 128", 'mean_file: "absent.binaryproto"'))
    result = run("train", files.solver("s.prototxt"), "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"nn2mcu: error: {net}: layer 'data': mean_file 'absent.binaryproto' does not exist; "
        "compute it with: nn2mcu mean --data digits -o absent.binaryproto"
    ]
    diverging = files.solver(
        "d.prototxt", base_lr=1e12, lr_policy="fixed", snapshot=0, prefix="d/x"
    )
    net.write_text(net.read_text().replace('mean_file: "absent.binaryproto"', "mean_value: 128"))
    result = run("train", diverging, "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert re.fullmatch(
        r"nn2mcu: error: training stopped: the loss became (nan|inf) at iteration \d+ \(lr 1e\+12\); "
        r"no snapshot was written for it \(the last good one, if any, is kept\); lower base_lr",
        line,
    ), line
    assert not (tmp_path / "d").exists()
