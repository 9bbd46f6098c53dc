"""Generating into a directory atomically, building on the host, and verifying the C."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nn2mcu.codegen.emit import generate
from nn2mcu.codegen.plan import Program
from nn2mcu.errors import InputError
from nn2mcu.ops import AverageVariant
from nn2mcu.q7.simulate import simulate


def generate_atomically(
    program: Program, directory: Path, kernels: str = "portable", cmsis_root: Path | None = None
) -> None:
    """Write the project beside ``directory`` and move it into place only when complete."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        generate(program, staging, kernels, cmsis_root)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old / directory.name)
            os.replace(staging, directory)
            shutil.rmtree(old)
        else:
            os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def build_host(directory: Path, cflags: str = "-O2") -> Path:
    try:
        result = subprocess.run(
            ["make", "-C", str(directory), f"CFLAGS={cflags}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except FileNotFoundError:
        raise InputError("'make' is not installed; install make and gcc") from None
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise InputError(f"building {directory} failed: {tail}")
    return directory / "nn_host"


@dataclass(frozen=True)
class Verification:
    images: int
    mismatches: int  # bytes that differ from the simulator
    mismatched_images: int
    accuracy: float
    outputs: npt.NDArray[np.int8]
    first_mismatch: int | None = None  # index of the first image that differs


def run_host(
    binary: Path, pixels: npt.NDArray[np.uint8], outputs: int, work: Path
) -> npt.NDArray[np.int8]:
    images, results = work / "images.bin", work / "outputs.bin"
    images.write_bytes(np.ascontiguousarray(pixels).tobytes())
    result = subprocess.run(
        [str(binary), str(images), str(results)], capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise InputError(
            f"{binary} failed (exit {result.returncode}): {result.stderr.strip()[-300:]}"
        )
    return np.frombuffer(results.read_bytes(), dtype=np.int8).reshape(len(pixels), outputs)


def verify_host(
    program: Program,
    binary: Path,
    pixels: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
    work: Path,
    *,
    average_pool: AverageVariant | None = None,
) -> Verification:
    """Run the binary and compare with the simulator; ``average_pool`` overrides the model's
    variant (CMSIS-NN built for a host takes its plain-C 2-D path)."""
    model = program.model
    if average_pool is not None:
        model = dataclasses.replace(model, pool_variant=average_pool)
    size = model.graph.shapes[model.logits].size
    got = run_host(binary, pixels, size, work)
    expected = np.concatenate(
        [
            simulate(model, pixels[start : start + 1000])[model.logits].reshape(-1, size)
            for start in range(0, len(pixels), 1000)
        ]
    )
    different = got != expected
    accuracy = float(np.mean(np.argmax(got, axis=1) == labels))
    rows = np.flatnonzero(different.any(axis=1))
    first = int(rows[0]) if rows.size else None
    return Verification(len(pixels), int(different.sum()), int(rows.size), accuracy, got, first)


def section_sizes(binary: Path) -> dict[str, int]:
    """text, data and bss of an executable (binutils' size)."""
    try:
        result = subprocess.run(["size", str(binary)], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return {}
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or len(lines) < 2:
        return {}
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def first_divergence(
    program: Program,
    project: Path,
    pixels: npt.NDArray[np.uint8],
    work: Path,
    cflags: str = "-O2",
    *,
    average_pool: AverageVariant | None = None,
) -> dict[str, object] | None:
    """Run one image through a tracing build of ``project`` and the simulator, and name the
    first layer whose output differs (with the element, its HWC position and both values)."""
    traced = work / "trace-project"
    if traced.exists():
        shutil.rmtree(traced)
    shutil.copytree(project, traced)
    (traced / "nn_host").unlink(missing_ok=True)
    binary = build_host(traced, f"{cflags} -DNN_TRACE_LAYERS")
    images, outputs = work / "trace-image.bin", work / "trace-output.bin"
    images.write_bytes(np.ascontiguousarray(pixels[:1]).tobytes())
    result = subprocess.run(
        [str(binary), str(images), str(outputs)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise InputError(f"the tracing build failed to run: {result.stderr.strip()[-300:]}")
    model = program.model
    if average_pool is not None:
        model = dataclasses.replace(model, pool_variant=average_pool)
    expected = simulate(model, pixels[:1])
    data, offset = (work / "trace.bin").read_bytes(), 0
    for call in program.calls:
        index, size = np.frombuffer(data, dtype="<i4", count=2, offset=offset)
        offset += 8
        got = np.frombuffer(data, dtype=np.int8, count=int(size), offset=offset)
        offset += int(size)
        want = expected[call.layer.name].ravel()
        different = np.flatnonzero(got != want)
        if different.size:
            element = int(different[0])
            shape = model.graph.shapes[call.layer.name]
            y, rest = divmod(element, shape.w * shape.c)
            x, c = divmod(rest, shape.c)
            return {
                "call": int(index),
                "layer": call.layer.name,
                "kernel": call.kernel.name,
                "element": element,
                "position_hwc": [y, x, c],
                "c_value": int(got[element]),
                "simulator_value": int(want[element]),
                "differing_elements": int(different.size),
            }
    return None
