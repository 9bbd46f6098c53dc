"""The four MLPerf Tiny int8 reference models through nn2mcu on an emulated Cortex-M4, beside
TensorFlow Lite Micro + CMSIS-NN on the same emulated board.

Each model (../shared/data/mlperf-tiny, as it is) is imported, generated with the portable
kernels, built with arm-none-eabi-gcc -O2 for QEMU's mps2-an386 and run under -icount
(instructions; QEMU has no cycle model; counts are deterministic to 0.06 %). Every row is
verified: 0 mismatching bytes against the simulator and against TensorFlow Lite Micro's
reference interpreter, else the script exits 1. Inputs: IC the 200 performance samples of
CIFAR-10-JPEG (int8 = pixel - 128), the others 100 deterministic random int8 tensors
(--inputs changes the count).

Counting: nn2mcu counts around nn_run (its input copy included), TFLM inside Invoke(); the
difference is under 0.1 %. RAM: the arena (nn2mcu places the input inside it,
nn_input_buffer()). Flash: weights, biases, multipliers and shifts; code: the .text of
nn.o and the kernels' objects kept by --gc-sections (no C library, libgcc, start-up code
or main.c), from the link map of the same build. TFLM's instructions and arena are read
from ../shared/reference/anchors.md ("MLPerf Tiny"); its runtime code (framework,
kernels, CMSIS-NN; no C library) is the figure measured with the same build.

    .venv/bin/python benchmarks/mlperf_tiny.py [--inputs 100] [--markdown]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu.codegen.cortex_m import TARGETS, build_target, check_tools
from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import lower, weight_bytes
from nn2mcu.codegen.verify import VerifyOptions, verify_program
from nn2mcu.datasets import load_dataset
from nn2mcu.datasets.tensors import pixels_to_tensors, random_tensors
from nn2mcu.modelfile import import_tflite

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODELS = SHARED / "data" / "mlperf-tiny"
ANCHORS = SHARED / "reference" / "anchors.md"
TASKS = (
    ("IC", "pretrainedResnet_quant.tflite"),
    ("KWS", "kws_ref_model.tflite"),
    ("VWW", "vww_96_int8.tflite"),
    ("AD", "ad01_int8.tflite"),
)
# TFLM + CMSIS-NN runtime code in bytes (framework, kernels, CMSIS-NN; no C library),
# measured with the build anchors.md describes
TFLM_CODE = {"IC": 43_435, "KWS": 45_729, "VWW": 45_729, "AD": 22_823}


def tflm_anchors() -> dict[str, tuple[int, int, int]]:
    """(MACs, instructions per inference, arena bytes) of TFLM + CMSIS-NN per model file."""
    if not ANCHORS.is_file():
        sys.exit(f"{ANCHORS} is missing: it holds TFLM's measured figures")
    rows = {}
    for line in ANCHORS.read_text().splitlines():
        match = re.match(
            r"\|[^|]*\(`([^`]+\.tflite)`\)\s*\|([^|]+)\|([^|]+)\|[^|]+\|[^|]+\|([^|]+)\|", line
        )
        if match:
            macs, instructions, arena = (
                int(match.group(i).strip().replace(",", "")) for i in (2, 3, 4)
            )
            rows[match.group(1)] = (macs, instructions, arena)
    return rows


def runtime_code_bytes(project: Path) -> int:
    """.text of nn.o and the kernels' objects kept in the Cortex-M4 link: the project's own
    build command (make -n) rerun with its objects kept and a link map."""
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(project), "cortex-m4"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    command = next(line for line in dry.stdout.splitlines() if "arm-none-eabi-gcc" in line)
    words = [*shlex.split(command), "-save-temps=obj", "-Wl,-Map=code.map"]
    subprocess.run(words, cwd=project, capture_output=True, text=True, check=True)
    text = (project / "code.map").read_text()
    kept = text[text.index("Linker script and memory map") :]
    sections = re.findall(
        r"^ (\.text\S*)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+\.o)$", kept, flags=re.MULTILINE
    )
    # -save-temps names each object <output>-<source stem>.o
    ours = {"nn", *(source.stem for source in (project / "kernels").glob("*.c"))}
    total = 0
    for _, size, source in sections:
        stem = Path(source).stem.removeprefix("nn_cortex-m4.elf-")
        if stem in ours:
            total += int(size, 16)
    if total == 0:
        sys.exit(f"{project}/code.map: no .text of nn.o or the kernels found")
    return total


def inputs_for(task: str, model: Any, count: int) -> tuple[np.ndarray, np.ndarray | None]:
    shape = model.graph.shapes[model.graph.input_name]
    params = model.tensors[model.graph.input_name]
    if task != "IC":
        return random_tensors((shape.h, shape.w, shape.c), params.zero_point, count), None
    test = load_dataset(str(SHARED / "data" / "cifar10-jpeg")).test
    chosen = np.load(MODELS / "perf_samples_idxs.npy")
    tensors = pixels_to_tensors(test.images[chosen], 0.0, 1.0, params.scale, params.zero_point)
    return tensors, test.labels[chosen]


def measure(task: str, file: str, count: int) -> dict[str, Any]:
    model = import_tflite(MODELS / file)
    program = lower(model)
    inputs, labels = inputs_for(task, model, count)
    summary = verify_program(program, inputs, labels, VerifyOptions(target="cortex-m4")).summary
    if summary["mismatches"] or summary["tflm_mismatches"]:
        sys.exit(
            f"{task}: {summary['mismatches']} bytes differ from the simulator, "
            f"{summary['tflm_mismatches']} from TFLM"
        )
    with tempfile.TemporaryDirectory(prefix="nn2mcu-bench-") as work:
        project = Path(work) / "project"
        generate_atomically(program, project)
        build_target(project, TARGETS["cortex-m4"])
        code = runtime_code_bytes(project)
    return {**summary, "code_bytes": code, "weights": weight_bytes(program)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100, help="random inputs (KWS, VWW, AD)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    check_tools()
    anchors = tflm_anchors()
    rows = []
    for task, file in TASKS:
        print(f"{task}: {file} ...", file=sys.stderr, flush=True)
        result = measure(task, file, args.inputs)
        macs, tflm_instructions, tflm_arena = anchors[file]
        instructions = result["instructions_per_inference"]
        rows.append(
            (
                task,
                f"{macs:,}",
                f"{result['images']}",
                "0 / 0",
                f"{instructions:,}",
                f"{instructions / macs:.2f}",
                f"{tflm_instructions:,}",
                f"{instructions / tflm_instructions:.2f}",
                f"{result['arena_bytes']:,}",
                f"{tflm_arena:,}",
                f"{result['arena_bytes'] / tflm_arena:.2f}",
                f"{result['weights']:,}",
                f"{result['code_bytes']:,}",
                f"{TFLM_CODE[task]:,}",
                f"{result['code_bytes'] / TFLM_CODE[task]:.2f}",
                "-" if result["accuracy"] is None else f"{result['accuracy']:.4f}",
            )
        )
    header = (
        "model", "MACs", "inputs", "mismatches sim / TFLM", "instructions", "per MAC",
        "TFLM instructions", "ratio", "arena", "TFLM arena", "ratio", "weights (flash)",
        "code", "TFLM code", "ratio", "accuracy",
    )  # fmt: skip
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
