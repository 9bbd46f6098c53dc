"""Caffe training snapshots: weights and solver state, in Caffe's two formats.

BINARYPROTO: <prefix>_iter_<N>.caffemodel (NetParameter) and <prefix>_iter_<N>.solverstate
(SolverState: iter, learned_net, history blobs, current_step). HDF5: the same names
with .h5 appended; the state file holds datasets iter, learned_net, current_step and
a group history with datasets 0, 1, .... nn2mcu adds <state file>.json with what
Caffe keeps in memory only (data cursors, random generator states), so that a
resumed run continues exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.files import (
    array_blob,
    atomic_output,
    blob_array,
    read_solverstate_binary,
    write_binary,
)
from nn2mcu.frontends.caffe.weights import write_caffemodel, write_caffemodel_h5
from nn2mcu.ir import Graph

SIDECAR_FORMAT = "nn2mcu-training-state"


@dataclass(frozen=True)
class SolverStateData:
    iteration: int
    current_step: int
    learned_net: Path
    history: list[npt.NDArray[np.float32]]
    extra: dict[str, Any] | None  # the JSON sidecar, when present


def snapshot_paths(prefix: Path, iteration: int, hdf5: bool) -> tuple[Path, Path]:
    suffix = ".h5" if hdf5 else ""
    base = f"{prefix}_iter_{iteration}"
    return Path(f"{base}.caffemodel{suffix}"), Path(f"{base}.solverstate{suffix}")


def write_snapshot(
    graph: Graph,
    prefix: Path,
    iteration: int,
    *,
    hdf5: bool,
    history: list[npt.NDArray[np.float32]],
    current_step: int,
    extra: dict[str, Any],
) -> list[Path]:
    """Write weights, solver state and sidecar; returns their paths."""
    model, state = snapshot_paths(prefix, iteration, hdf5)
    (write_caffemodel_h5 if hdf5 else write_caffemodel)(graph, model)
    if hdf5:
        with atomic_output(state) as temporary, h5py.File(temporary, "w") as handle:
            handle.create_dataset("iter", data=np.array([iteration], dtype=np.int32))
            handle.create_dataset("learned_net", data=np.bytes_(str(model)))
            handle.create_dataset("current_step", data=np.array([current_step], dtype=np.int32))
            group = handle.create_group("history")
            for index, blob in enumerate(history):
                group.create_dataset(str(index), data=np.asarray(blob, dtype=np.float32))
    else:
        message = caffe_pb2.SolverState(
            iter=iteration, learned_net=str(model), current_step=current_step
        )
        message.history.extend(array_blob(blob) for blob in history)
        write_binary(state, message)
    sidecar = Path(f"{state}.json")
    with atomic_output(sidecar) as temporary:
        temporary.write_text(json.dumps({"format": SIDECAR_FORMAT, "version": 1, **extra}))
    return [model, state, sidecar]


def _scalar(value: Any) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def read_solverstate(path: Path) -> SolverStateData:
    """Read a .solverstate or .solverstate.h5 (and its sidecar, if any)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.name.endswith(".h5"):
        try:
            with h5py.File(path, "r") as handle:
                iteration = _scalar(handle["iter"][()])
                current_step = (
                    _scalar(handle["current_step"][()]) if "current_step" in handle else 0
                )
                raw = handle["learned_net"][()]
                learned = (
                    raw.decode() if isinstance(raw, bytes) else str(np.asarray(raw).item().decode())
                )
                group = handle["history"]
                history = [
                    np.asarray(group[key][()], dtype=np.float32)
                    for key in sorted(group.keys(), key=int)
                ]
        except (OSError, KeyError) as error:
            raise InputError(f"{path}: not a Caffe HDF5 solver state ({error})") from None
    else:
        message = read_solverstate_binary(path)
        iteration, current_step = int(message.iter), int(message.current_step)
        learned = message.learned_net
        history = [blob_array(blob, str(path)) for blob in message.history]
    sidecar = Path(f"{path}.json")
    extra = None
    if sidecar.is_file():
        try:
            extra = json.loads(sidecar.read_text())
        except json.JSONDecodeError as error:
            raise InputError(f"{sidecar}: not valid JSON ({error})") from None
        if extra.get("format") != SIDECAR_FORMAT:
            raise InputError(f"{sidecar}: not an nn2mcu training state")
    return SolverStateData(iteration, current_step, _learned_net(learned, path), history, extra)


def _learned_net(name: str, state: Path) -> Path:
    """The weights a state names: as written (Caffe: from the working directory), else
    beside the state file."""
    candidates = [Path(name), state.parent / name, state.parent / Path(name).name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InputError(f"{state}: its weights '{name}' are missing (looked in {looked})")
