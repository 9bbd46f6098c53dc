"""Training end to end on a tiny data set: loss, snapshots, resume, chaining, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import load_net
from nn2mcu.frontends.caffe.snapshot import read_solverstate
from nn2mcu.train.session import TrainOptions, train_solvers
from tests.train.conftest import NET, Files

QUIET = TrainOptions(progress=False)


@pytest.fixture(autouse=True)
def deterministic() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def test_a_few_iterations_lower_the_loss(files: Files) -> None:
    result = train_solvers([files.solver("s.prototxt", max_iter=60)], QUIET, log=lambda _: None)
    first, last = result.tests[0], result.tests[-1]
    assert (first.iteration, last.iteration) == (0, 60)
    assert last.values["loss"] < 0.7 * first.values["loss"]
    assert last.values["accuracy"] > first.values["accuracy"] + 0.3


@pytest.mark.parametrize("hdf5", [False, True])
def test_snapshot_loads_back_through_the_caffe_front_end(files: Files, hdf5: bool) -> None:
    extra = "snapshot_format: HDF5" if hdf5 else ""
    solver = files.solver("s.prototxt", max_iter=20, snapshot=10, extra=extra)
    result = train_solvers([solver], QUIET, log=lambda _: None)
    suffix = ".h5" if hdf5 else ""
    model = files.root / "snap" / f"tiny_iter_20.caffemodel{suffix}"
    state = files.root / "snap" / f"tiny_iter_20.solverstate{suffix}"
    assert result.snapshots[:2] == [model, state]
    assert (files.root / "snap" / f"tiny_iter_10.caffemodel{suffix}").is_file()
    loaded = load_net(files.net, weights=model, phase="TRAIN")
    assert loaded == result.graph  # identical layers and weight values
    saved = read_solverstate(state)
    assert (saved.iteration, saved.current_step, saved.learned_net) == (20, 0, model)
    assert [h.shape for h in saved.history] == [
        (8, 1, 3, 3), (8,), (10, 128), (10,),
    ]  # fmt: skip


def _weights(graph: object) -> dict[str, np.ndarray]:
    return {
        f"{layer.name}/{key}": value
        for layer in graph.layers  # type: ignore[attr-defined]
        for key, value in layer.weights.items()
    }


def test_resumed_run_equals_an_uninterrupted_one(files: Files) -> None:
    solver = files.solver("s.prototxt", max_iter=40, snapshot=15, lr_policy="multistep",
                          extra="stepvalue: 10\nstepvalue: 25")  # fmt: skip
    options = TrainOptions(progress=False, shuffle=5)
    full = train_solvers([solver], options, log=lambda _: None)
    state = files.root / "snap" / "tiny_iter_15.solverstate"
    again = files.solver("again.prototxt", max_iter=40, snapshot=0, lr_policy="multistep",
                         prefix="resumed/tiny", extra="stepvalue: 10\nstepvalue: 25")  # fmt: skip
    resumed = train_solvers(
        [again], TrainOptions(progress=False, shuffle=5, resume=state), log=lambda _: None
    )
    assert resumed.iteration == 40
    a, b = _weights(full.graph), _weights(resumed.graph)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(torch.tensor(a[key]), torch.tensor(b[key])), key
    assert [t.values for t in full.tests if t.iteration == 40] == [
        t.values for t in resumed.tests if t.iteration == 40
    ]


def test_chained_solvers_end_at_the_second_max_iter(files: Files) -> None:
    first = files.solver("one.prototxt", max_iter=20, snapshot=20, base_lr=0.05)
    second = files.solver(
        "two.prototxt", max_iter=30, snapshot=30, base_lr=0.005, extra="snapshot_format: HDF5"
    )
    lines: list[str] = []
    result = train_solvers([first, second], QUIET, log=lines.append)
    assert result.iteration == 30
    assert result.snapshots[0] == files.root / "snap" / "tiny_iter_30.caffemodel.h5"
    assert (files.root / "snap" / "tiny_iter_20.solverstate").is_file()
    assert result.images == 30 * 32
    # Caffe's schedule: the first solver tests at 0 and at its end (20); the second at its
    # start (20), but not at 30, which test_interval does not divide
    assert [line.split(":")[0] for line in lines if ": test" in line] == [
        "iteration 0", "iteration 20", "iteration 20",
    ]  # fmt: skip


def test_interrupt_writes_a_snapshot_and_resume_continues_exactly(files: Files) -> None:
    """Ctrl-C on the command line; the resumed run ends with the uninterrupted weights."""
    solver = files.solver("s.prototxt", max_iter=1_000_000, snapshot=0, test_interval=1_000_000,
                          base_lr=0.01, lr_policy="fixed")  # fmt: skip
    command = [str(Path(sys.executable).parent / "nn2mcu"), "train", str(solver),
               "--threads", "1", "--shuffle", "3", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the test at iteration 0: training starts right after
    assert first.startswith("iteration 0: test"), first
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    states = sorted((files.root / "snap").glob("tiny_iter_*.solverstate"))
    assert len(states) == 1, (out, err)
    assert f"resume with --resume {states[0]}" in err
    stopped = int(states[0].name.split("_iter_")[1].split(".")[0])
    assert stopped > 0
    end = stopped + 150
    options = {"max_iter": end, "test_interval": 0, "base_lr": 0.01, "lr_policy": "fixed"}
    full = train_solvers([files.solver("full.prototxt", prefix="full/tiny", **options)],
                         TrainOptions(progress=False, shuffle=3), log=lambda _: None)  # fmt: skip
    resumed = train_solvers([files.solver("r.prototxt", prefix="r/tiny", **options)],
                            TrainOptions(progress=False, shuffle=3, resume=states[0]),
                            log=lambda _: None)  # fmt: skip
    assert full.iteration == resumed.iteration == end
    a, b = _weights(full.graph), _weights(resumed.graph)
    for key in a:
        assert torch.equal(torch.tensor(a[key]), torch.tensor(b[key])), key


def test_diverging_loss_stops_without_a_new_snapshot(files: Files) -> None:
    solver = files.solver("s.prototxt", max_iter=200, snapshot=2, base_lr=1e12, lr_policy="fixed")
    with pytest.raises(
        Exception, match=r"the loss became (nan|inf) at iteration \d+ \(lr 1e\+12\)"
    ) as error:
        train_solvers([solver], QUIET, log=lambda _: None)
    diverged_at = error.value.iteration  # type: ignore[attr-defined]
    written = sorted((files.root / "snap").glob("*.caffemodel"))
    assert all(int(p.name.split("_iter_")[1].split(".")[0]) <= diverged_at for p in written)


def test_batchnorm_nets_are_refused(files: Files) -> None:
    net = files.root / "bn.prototxt"
    net.write_text(NET.replace(
        'layer { name: "relu1"',
        'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }\nlayer { name: "relu1"',
    ))  # fmt: skip
    with pytest.raises(
        InputError, match=r"layer 'bn1' \(BatchNorm\): nn2mcu does not train BatchNorm"
    ):
        train_solvers([files.solver("s.prototxt", net=net)], QUIET)


def test_lmdb_source_needs_data(files: Files) -> None:
    net = files.root / "lmdb.prototxt"
    net.write_text(NET.replace('source: "digits"', 'source: "examples/train_lmdb" backend: LMDB'))
    with pytest.raises(
        InputError,
        match=r"layer 'data' \(Data\) carries no input shape and reads 'examples/train_lmdb', a database.*--data SPEC",
    ):
        train_solvers([files.solver("s.prototxt", net=net)], QUIET)
    result = train_solvers([files.solver("s.prototxt", net=net, max_iter=2, test_interval=0)],
                           TrainOptions(progress=False, data="digits"), log=lambda _: None)  # fmt: skip
    assert result.iteration == 2


def test_missing_mean_file_names_the_mean_command(files: Files) -> None:
    net = files.root / "mean.prototxt"
    net.write_text(NET.replace("mean_value: 128", 'mean_file: "nowhere/mean.binaryproto"'))
    with pytest.raises(InputError, match=r"mean_file 'nowhere/mean.binaryproto' does not exist; "
                       r"compute it with: nn2mcu mean --data digits -o nowhere/mean.binaryproto"):  # fmt: skip
        train_solvers([files.solver("s.prototxt", net=net)], QUIET)


def test_input_shape_disagreeing_with_the_data_set(files: Files) -> None:
    from nn2mcu.mean import write_mean_file

    write_mean_file(np.zeros((1, 28, 28), np.float32), files.root / "mean28.binaryproto")
    net = files.root / "m.prototxt"
    net.write_text(
        NET.replace("mean_value: 128", f'mean_file: "{files.root / "mean28.binaryproto"}"')
    )
    with pytest.raises(
        InputError, match=r"input shape 1,28,28 \(C,H,W\) but data set 'digits' gives 1,8,8"
    ):
        train_solvers([files.solver("s.prototxt", net=net)], QUIET)


def test_missing_data_set_says_where_it_looked(files: Files, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a known data set"):
        train_solvers(
            [files.solver("s.prototxt")], TrainOptions(progress=False, data=str(tmp_path / "none"))
        )
