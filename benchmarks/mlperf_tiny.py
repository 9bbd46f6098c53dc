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
or main.c), from the link map of the same build without the per-call counters that
measure the layers (-DNN_PROFILE). TFLM's instructions and arena are read
from ../shared/reference/anchors.md ("MLPerf Tiny"); its runtime code (framework,
kernels, CMSIS-NN; no C library) is the figure measured with the same build.

With --ablation a second table: the portable kernels' techniques switched on one by one,
cumulatively, on the Cortex-M4 (compile-time switches of the kernels; every row verified
the same way). The input offset folded into the bias at generation time is in every row.
With --cortex-m7 the models also run on QEMU's mps2-an500 Cortex-M7 (nn2mcu only:
anchors.md has no TFLM figures for it).

    .venv/bin/python benchmarks/mlperf_tiny.py [--inputs 100] [--markdown] [--ablation]
        [--cortex-m7]
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


def runtime_code_bytes(project: Path, target: str = "cortex-m4") -> int:
    """.text of nn.o and the kernels' objects kept in the target's link: the project's own
    build command (make -n) rerun without the per-call counters, with its objects kept and
    a link map."""
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(project), target],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    command = next(line for line in dry.stdout.splitlines() if "arm-none-eabi-gcc" in line)
    # without the per-call counters (-DNN_PROFILE, the measuring build's): the code a
    # firmware holds
    words = [*shlex.split(command), "-UNN_PROFILE", "-save-temps=obj", "-Wl,-Map=code.map"]
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
        stem = Path(source).stem.removeprefix(f"nn_{target}.elf-")
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


# the techniques --ablation switches on one by one (the kernels' compile-time switches)
ABLATION = (
    ("plain C (no SIMD), two-rounding requantization", "-DNN2MCU_NO_SIMD -DNN2MCU_NO_FAST_OUTPUT"),
    ("+ dual 16-bit MACs (ACLE intrinsics)", "-DNN2MCU_NO_ASM -DNN2MCU_NO_FAST_OUTPUT"),
    ("+ one-rounding requantization, four outputs packed", "-DNN2MCU_NO_ASM"),
    ("+ inner loops in assembly (the default build)", ""),
)


def verified(
    task: str, file: str, count: int, target: str = "cortex-m4", defines: str = ""
) -> tuple[Any, dict[str, Any]]:
    """The program and its verify summary; exits unless 0 bytes differ from the simulator
    and from TFLM."""
    model = import_tflite(MODELS / file)
    program = lower(model)
    inputs, labels = inputs_for(task, model, count)
    options = VerifyOptions(target=target, cflags=f"-O2 {defines}".strip())
    summary = verify_program(program, inputs, labels, options).summary
    if summary["mismatches"] or summary["tflm_mismatches"]:
        sys.exit(
            f"{task} ({target} {defines}): {summary['mismatches']} bytes differ from the "
            f"simulator, {summary['tflm_mismatches']} from TFLM"
        )
    return program, summary


def measure(task: str, file: str, count: int, target: str = "cortex-m4") -> dict[str, Any]:
    program, summary = verified(task, file, count, target)
    with tempfile.TemporaryDirectory(prefix="nn2mcu-bench-") as work:
        project = Path(work) / "project"
        generate_atomically(program, project)
        build_target(project, TARGETS[target])
        code = runtime_code_bytes(project, target)
    return {**summary, "code_bytes": code, "weights": weight_bytes(program)}


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True)))


def ablation(count: int, anchors: dict[str, tuple[int, int, int]], markdown: bool) -> None:
    """Instructions per inference on the Cortex-M4 with the techniques added one by one."""
    rows = []
    for label, defines in ABLATION:
        counts = []
        for task, file in TASKS:
            print(f"ablation, {label}: {task} ...", file=sys.stderr, flush=True)
            counts.append(verified(task, file, count, "cortex-m4", defines)[1])
        values = [summary["instructions_per_inference"] for summary in counts]
        tflm = [anchors[file][1] for _, file in TASKS]
        rows.append(
            (
                label,
                *(f"{v:,} ({v / t:.2f})" for v, t in zip(values, tflm, strict=True)),
                f"{sum(values) / sum(tflm):.2f}",
            )
        )
    header = ("technique (cumulative)", *(f"{t} (x TFLM)" for t, _ in TASKS), "all four x TFLM")
    print()
    print_table(header, rows, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100, help="random inputs (KWS, VWW, AD)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also the kernels' techniques switched on one by one (Cortex-M4)",
    )
    parser.add_argument(
        "--cortex-m7", action="store_true", help="also rows for QEMU's Cortex-M7 (nn2mcu only)"
    )
    args = parser.parse_args()
    check_tools()
    anchors = tflm_anchors()
    rows = []
    totals = [0, 0]
    targets = ["cortex-m4", *(["cortex-m7"] if args.cortex_m7 else [])]
    for target in targets:
        for task, file in TASKS:
            print(f"{task} on {target}: {file} ...", file=sys.stderr, flush=True)
            result = measure(task, file, args.inputs, target)
            macs, tflm_instructions, tflm_arena = anchors[file]
            instructions = result["instructions_per_inference"]
            m4 = target == "cortex-m4"
            if m4:
                totals[0] += instructions
                totals[1] += tflm_instructions
            rows.append(
                (
                    task,
                    target,
                    f"{macs:,}",
                    f"{result['images']}",
                    "0 / 0",
                    f"{instructions:,}",
                    f"{instructions / macs:.2f}",
                    f"{tflm_instructions:,}" if m4 else "-",
                    f"{instructions / tflm_instructions:.2f}" if m4 else "-",
                    f"{result['arena_bytes']:,}",
                    f"{tflm_arena:,}",
                    f"{result['arena_bytes'] / tflm_arena:.2f}",
                    f"{result['weights']:,}",
                    f"{result['weight_symbol_bytes'] / result['weights']:.2f}",
                    f"{result['code_bytes']:,}",
                    f"{TFLM_CODE[task]:,}",
                    f"{result['code_bytes'] / TFLM_CODE[task]:.2f}",
                    "-" if result["accuracy"] is None else f"{result['accuracy']:.4f}",
                )
            )
    blank = ("",) * 10
    rows.append(
        (
            "all four",
            "cortex-m4",
            "",
            "",
            "",
            f"{totals[0]:,}",
            "",
            f"{totals[1]:,}",
            f"{totals[0] / totals[1]:.2f}",
            *blank[:9],
        )
    )
    header = (
        "model", "target", "MACs", "inputs", "mismatches sim / TFLM", "instructions", "per MAC",
        "TFLM instructions", "ratio", "arena", "TFLM arena", "ratio", "model weights",
        "in flash / model", "code", "TFLM code", "ratio", "accuracy",
    )  # fmt: skip
    print_table(header, rows, args.markdown)
    if args.ablation:
        ablation(args.inputs, anchors, args.markdown)


if __name__ == "__main__":
    main()
