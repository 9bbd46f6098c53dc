"""The fuzz tier (issue 17): malformed variants of every kind of input nn2mcu parses, run
in-process through nn2mcu.cli.main. A malformed input must end with exit 2, one line on
stderr that starts with 'nn2mcu: error:', no traceback and nothing written; a variant
that is still valid (exit 0) is counted apart. Every tenth refused case of each parser
(up to 5) runs again as a real process and must behave the same. At least 2,000 refused
cases in all (test_the_tier_refused_at_least_2000, which runs last)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nn2mcu import cli
from tests.conftest import REPO
from tests.fuzz import seeds
from tests.fuzz.conftest import TALLY
from tests.fuzz.mutations import mutate_arrays, mutate_bytes, mutate_document, mutate_text

SCRIPT = Path(sys.executable).with_name("nn2mcu")
GOLDEN = REPO / "tests" / "golden" / "networks"
TFLITE = REPO / "tests" / "frontends" / "tflite" / "fixtures"
PROCESSES_PER_PARSER = 5
pytestmark = pytest.mark.fuzz

# one case: writes its malformed file(s) into the directory, returns (argv, an output
# path that must not exist after a refusal, or None)
Case = Callable[[Path, np.random.Generator], tuple[list[str], Path | None]]


def _in_process(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, err.getvalue()


def _traceback(argv: list[str]) -> str:
    """Where an internal error was raised (the last frames, with --debug)."""
    import traceback

    try:
        _in_process([*argv, "--debug"])
    except Exception as error:  # the internal error itself
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        return "".join(f"\n    at {f.filename}:{f.lineno} {f.name}" for f in frames)
    return ""


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def _fuzz(tmp_path: Path, name: str, count: int, seed: int, case: Case) -> None:
    rng = np.random.default_rng(seed)
    failures: list[str] = []
    sample: list[tuple[list[str], Path]] = []
    refused = 0
    for index in range(count):
        directory = tmp_path / f"{name}-{index}"
        directory.mkdir()
        argv, output = case(directory, rng)
        before = _files(directory)
        code, err = _in_process(argv)
        lines = err.strip().splitlines()
        if code == 0:
            TALLY["valid"] += 1
            shutil.rmtree(directory)
            continue
        where = f"{name} #{index} ({' '.join(argv)})"
        if code != 2 or len(lines) != 1 or not lines[0].startswith("nn2mcu: error: "):
            failures.append(f"{where}: exit {code}: {err.strip()[-400:]}{_traceback(argv)}")
        elif output is not None and output.exists():
            failures.append(f"{where}: refused but wrote {output}")
        elif _files(directory) != before:
            failures.append(f"{where}: refused but left {sorted(_files(directory) - before)}")
        else:
            refused += 1
            if refused % 10 == 1 and len(sample) < PROCESSES_PER_PARSER:
                sample.append((argv, directory))
                continue  # its directory is needed by the process run
        shutil.rmtree(directory, ignore_errors=True)
    TALLY["refused"] += refused

    def as_process(item: tuple[list[str], Path]) -> str | None:
        argv, directory = item
        result = subprocess.run(
            [str(SCRIPT), *argv], capture_output=True, text=True, timeout=300, cwd=directory
        )
        lines = result.stderr.strip().splitlines()
        if result.returncode != 2 or len(lines) != 1 or "Traceback" in result.stderr:
            return f"{name} as a process ({' '.join(argv)}): exit {result.returncode}: {result.stderr[-400:]}"
        return None

    with ThreadPoolExecutor(2) as pool:
        failures += [f for f in pool.map(as_process, sample) if f is not None]
    TALLY["subprocess"] += len(sample)
    assert not failures, f"{len(failures)} of {count} cases:\n" + "\n".join(failures[:15])


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("seeds")
    seeds.caffe_seeds(directory)
    seeds.onnx_seed(directory / "model.onnx")
    seeds.idx_seed(directory / "idx")
    seeds.cifar_seeds(directory / "cifar-bin", directory / "cifar-py")
    return directory


def test_prototxt(tmp_path: Path, seed_dir: Path) -> None:
    text = (seed_dir / "net.prototxt").read_text()

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        path = directory / "net.prototxt"
        path.write_bytes(mutate_text(text, rng))
        return ["inspect", str(path)], None

    _fuzz(tmp_path, "prototxt", 550, 10, case)


def test_caffemodel(tmp_path: Path, seed_dir: Path) -> None:
    data = (seed_dir / "w.caffemodel").read_bytes()

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        path = directory / "w.caffemodel"
        path.write_bytes(mutate_bytes(data, rng))
        return ["inspect", str(seed_dir / "net.prototxt"), "--weights", str(path)], None

    _fuzz(tmp_path, "caffemodel", 250, 11, case)


def test_hdf5_weights(tmp_path: Path, seed_dir: Path) -> None:
    import h5py

    source = seed_dir / "w.caffemodel.h5"
    data = source.read_bytes()
    with h5py.File(source, "r") as handle:
        arrays = {f"{layer}/{key}": handle["data"][layer][key][()] for layer in handle["data"]
                  for key in handle["data"][layer]}  # fmt: skip

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        path = directory / "w.caffemodel.h5"
        if rng.random() < 0.4:
            path.write_bytes(mutate_bytes(data, rng))
        else:  # well-formed HDF5 with the wrong content
            changed = mutate_arrays(arrays, rng)
            with h5py.File(path, "w") as handle:
                if rng.random() < 0.1:
                    handle.create_dataset("data", data=np.zeros(3))
                else:
                    for key, value in changed.items():
                        if rng.random() < 0.05:
                            value = np.array([b"text"])
                        handle.create_dataset(f"data/{key}", data=value)
        return ["inspect", str(seed_dir / "net.prototxt"), "--weights", str(path)], None

    _fuzz(tmp_path, "hdf5", 200, 12, case)


def test_onnx(tmp_path: Path, seed_dir: Path) -> None:
    import onnx
    from google.protobuf.json_format import MessageToDict, ParseDict

    data = (seed_dir / "model.onnx").read_bytes()
    document = MessageToDict(onnx.load_from_string(data))

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        path = directory / "model.onnx"
        if rng.random() < 0.5:
            path.write_bytes(mutate_bytes(data, rng))
        else:  # a well-formed protobuf with one field changed
            try:
                model = ParseDict(mutate_document(document, rng), onnx.ModelProto())
                path.write_bytes(model.SerializeToString())
            except Exception:  # the change does not fit the schema: damage the bytes instead
                path.write_bytes(mutate_bytes(data, rng))
        return ["inspect", str(path)], None

    _fuzz(tmp_path, "onnx", 300, 13, case)


def test_tflite(tmp_path: Path) -> None:
    models = [(TFLITE / name).read_bytes() for name in ("residual.tflite", "padded.tflite")]

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        path = directory / "model.tflite"
        path.write_bytes(mutate_bytes(models[int(rng.integers(len(models)))], rng))
        return ["inspect", str(path)], None

    _fuzz(tmp_path, "tflite", 300, 14, case)


def _model_files(scheme: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    source = GOLDEN / f"fashion-{scheme}" / "model.json"
    with np.load(source.with_suffix(".npz")) as loaded:
        return json.loads(source.read_text()), dict(loaded)


def _write_model(directory: Path, document: object, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(directory / "model.npz", **arrays)
    if isinstance(document, dict) and isinstance(document.get("arrays"), dict):
        document["arrays"] = {
            "path": "model.npz",
            "sha256": hashlib.sha256((directory / "model.npz").read_bytes()).hexdigest(),
        }
    path = directory / "model.json"
    path.write_text(json.dumps(document))
    return path


def test_model_json(tmp_path: Path) -> None:
    files = {scheme: _model_files(scheme) for scheme in ("q7", "s8")}

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        document, arrays = files[str(rng.choice(["q7", "s8"]))]
        path = _write_model(directory, mutate_document(document, rng), arrays)
        if rng.random() < 0.1:
            path.write_bytes(mutate_text(path.read_text(), rng))
        return ["generate", str(path), "-o", str(directory / "out")], directory / "out"

    _fuzz(tmp_path, "model.json", 350, 15, case)


def test_model_npz(tmp_path: Path) -> None:
    files = {scheme: _model_files(scheme) for scheme in ("q7", "s8")}

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        document, arrays = files[str(rng.choice(["q7", "s8"]))]
        path = _write_model(directory, json.loads(json.dumps(document)), mutate_arrays(arrays, rng))
        return ["generate", str(path), "-o", str(directory / "out")], directory / "out"

    _fuzz(tmp_path, "model.npz", 200, 16, case)


def test_mean_file(tmp_path: Path, seed_dir: Path) -> None:
    net = (seed_dir / "mean_net.prototxt").read_text()
    data = (seed_dir / "mean.binaryproto").read_bytes()

    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        (directory / "mean.binaryproto").write_bytes(mutate_bytes(data, rng))
        (directory / "net.prototxt").write_text(net)
        return ["inspect", str(directory / "net.prototxt")], None

    _fuzz(tmp_path, "mean", 150, 17, case)


def _damaged_data_set(
    source: Path, directory: Path, rng: np.random.Generator
) -> tuple[list[str], Path | None]:
    """A copy of the data set directory ``source`` with one of its files damaged, and
    `nn2mcu mean` over it."""
    data = directory / source.name
    shutil.copytree(source, data)
    names = sorted(p.name for p in data.iterdir())
    victim = data / names[int(rng.integers(len(names)))]
    victim.write_bytes(mutate_bytes(victim.read_bytes(), rng))
    output = directory / "mean.bp"
    return ["mean", "--data", str(data), "-o", str(output)], output


def test_idx(tmp_path: Path, seed_dir: Path) -> None:
    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        return _damaged_data_set(seed_dir / "idx", directory, rng)

    _fuzz(tmp_path, "idx", 150, 18, case)


def test_cifar_batches(tmp_path: Path, seed_dir: Path) -> None:
    def case(directory: Path, rng: np.random.Generator) -> tuple[list[str], Path | None]:
        kind = str(rng.choice(["cifar-bin", "cifar-py"]))
        return _damaged_data_set(seed_dir / kind, directory, rng)

    _fuzz(tmp_path, "cifar", 150, 19, case)


def test_the_tier_refused_at_least_2000() -> None:
    """Runs after the parsers' tests (file order); fails when they were not all run."""
    assert TALLY["refused"] >= 2000, dict(TALLY)
