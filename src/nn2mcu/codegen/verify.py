"""Verification of a lowered program: generate (or take) the project, build it for the host
or an emulated Cortex-M, run test images through it and compare every output byte with
the simulator. ``nn2mcu verify`` and ``nn2mcu run`` print and store its summary."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nn2mcu.codegen.cortex_m import (
    TARGETS,
    Target,
    TargetRun,
    build_target,
    check_tools,
    elf_sizes,
    memory_check,
    run_images,
    ticks_to_instructions,
)
from nn2mcu.codegen.host import (
    build_host,
    compare_outputs,
    first_divergence,
    generate_atomically,
    section_sizes,
    verify_host,
)
from nn2mcu.codegen.lower import Program, weight_bytes
from nn2mcu.schemes import scheme_of

SANITIZE = "-O2 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
CHUNK = 1000  # images per QEMU run


@dataclass(frozen=True)
class VerifyOptions:
    target: str = "host"  # host, cortex-m4, cortex-m7
    kernels: str = "portable"  # portable or cmsis
    cmsis_root: Path | None = None
    project: Path | None = None  # verify this project as it is instead of generating one
    sanitize: bool = False
    cflags: str = "-O2"  # the build's flags (sanitize replaces them)
    trace: bool = False
    progress: bool = False
    log: Callable[[str], None] | None = None


@dataclass(frozen=True)
class VerifyResult:
    summary: dict[str, Any]  # the keys of verify --json
    outputs: npt.NDArray[np.int8]  # the C's logits, one row per image


def verify_program(
    program: Program,
    pixels: npt.NDArray[Any],
    labels: npt.NDArray[np.int64] | None,
    options: VerifyOptions,
    *,
    float_accuracy: float | None = None,
) -> VerifyResult:
    target = None if options.target == "host" else TARGETS[options.target]
    if target is not None:
        check_tools()
    reference = scheme_of(program.model).reference_model(
        program.model, options.target, options.kernels
    )
    cflags = SANITIZE if options.sanitize else options.cflags
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nn2mcu-verify-") as work_name:
        work = Path(work_name)
        project = work / "project"
        if options.project is not None:
            shutil.copytree(options.project, project)
            for stale in ("nn_host", "nn.o", "main.o", "nn_cortex-m4.elf", "nn_cortex-m7.elf"):
                (project / stale).unlink(missing_ok=True)
        else:
            generate_atomically(program, project, options.kernels, options.cmsis_root)
        if target is None:
            binary = build_host(project, cflags)
            result = verify_host(program, binary, pixels, labels, work, reference=reference)
            sizes = section_sizes(binary)
        else:
            binary = build_target(project, target, cflags)
            sizes = elf_sizes(binary)
            extra.update(memory_check(program, binary))
            if options.log is not None:
                options.log(
                    f"{target.name} ({target.machine}): text {sizes['text']:,}, data "
                    f"{sizes['data']:,}, bss {sizes['bss']:,} bytes; running {len(pixels):,} "
                    "images under QEMU"
                )
            run = _run_on_target(program, binary, target, pixels, work, options.progress)
            result = compare_outputs(program, run.outputs, pixels, labels, reference)
            extra.update(instruction_summary(program, run.ticks))
        trace = None
        if options.trace and result.mismatches:
            image = result.first_mismatch or 0
            trace = first_divergence(
                program,
                project,
                pixels[image : image + 1],
                work,
                cflags,
                reference=reference,
                target=target,
            )
            if trace is not None:
                trace["image"] = image
    per_layer: list[dict[str, Any]] = [
        {
            "name": call.layer.name,
            "kernel": call.kernel.name,
            "reason": call.kernel.reason,
            **({"memory": note} if (note := program.overlay_note(index)) else {}),
        }
        for index, call in enumerate(program.calls)
    ]
    layer_counts = extra.pop("per_layer_instructions", None)
    if isinstance(layer_counts, list):
        for entry, counts in zip(per_layer, layer_counts, strict=True):
            entry.update(counts)
    if program.model.imported is not None:
        extra.update(tflm_comparison(program, pixels, result.outputs, options.trace))
    summary = {
        "target": options.target,
        "kernels": options.kernels,
        "images": result.images,
        "mismatches": result.mismatches,
        "mismatched_images": result.mismatched_images,
        "accuracy": result.accuracy,
        **({"float_accuracy": float_accuracy} if float_accuracy is not None else {}),
        "arena_bytes": program.arena_size,
        "weight_bytes": weight_bytes(program),
        "mean_bytes": int(program.model.mean.size),
        **sizes,
        **extra,
        "trace": trace,
        "per_layer": per_layer,
    }
    return VerifyResult(summary, result.outputs)


def tflm_comparison(
    program: Program, inputs: npt.NDArray[Any], records: npt.NDArray[np.int8], trace: bool
) -> dict[str, Any]:
    """The C's output tensors against TensorFlow Lite Micro's reference interpreter on the
    same int8 inputs: ``tflm_mismatches`` (bytes), and with ``trace`` the first layer and
    element where the simulator and TFLM's preserved intermediate tensors differ."""
    from nn2mcu import tflm
    from nn2mcu.simulate import simulate

    model = program.model
    imported = model.imported
    oracle = tflm.Oracle(Path(imported.path), preserve_all_tensors=trace, edges=tflm.edges(model))
    size = model.graph.shapes[model.graph.outputs[0]].size
    different = 0
    first: int | None = None
    tensors = model.input_stage(inputs)  # pixels through the model's pixel map
    for index, tensor in enumerate(tensors):
        got = records[index, :size]
        count = int((oracle.invoke(tensor) != got).sum())
        different += count
        if count and first is None:
            first = index
    out: dict[str, Any] = {"tflm_mismatches": different, "tflm_version": tflm.version()}
    if trace and first is not None:
        oracle.invoke(tensors[first])
        values = simulate(model, inputs[first : first + 1])
        for layer in model.graph.layers:
            want = oracle.tensor(imported.tensors[layer.name])
            have = values[layer.name].ravel()
            wrong = np.flatnonzero(want != have)
            if wrong.size:
                out["tflm_trace"] = {
                    "input": first, "layer": layer.name, "element": int(wrong[0]),
                    "simulator_value": int(have[wrong[0]]), "tflm_value": int(want[wrong[0]]),
                    "differing_elements": int(wrong.size),
                }  # fmt: skip
                break
    return out


def _run_on_target(
    program: Program,
    binary: Path,
    target: Target,
    pixels: npt.NDArray[np.uint8],
    work: Path,
    progress: bool,
) -> TargetRun:
    """The images in chunks (one QEMU process each) behind a progress bar."""
    from tqdm import tqdm

    outputs, ticks = [], []
    with tqdm(
        total=len(pixels), unit="img", disable=not progress or not sys.stderr.isatty(), leave=False
    ) as bar:
        for start in range(0, len(pixels), CHUNK):
            run = run_images(program, binary, target, pixels[start : start + CHUNK], work)
            outputs.append(run.outputs)
            ticks.append(run.ticks)
            bar.update(len(run.outputs))
    return TargetRun(np.concatenate(outputs), np.concatenate(ticks))


def instruction_summary(program: Program, ticks: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Medians over the images of the instructions per inference and per kernel call."""
    graph = program.model.graph
    counts = ticks_to_instructions(ticks)
    per_layer = []
    for index, call in enumerate(program.calls):
        layer = call.layer
        macs = layer.op.macs(graph.input_shapes(layer), graph.shapes[layer.name])
        per_layer.append({"instructions": int(np.median(counts[:, 1 + index])), "macs": macs})
    return {
        "instructions_per_inference": int(np.median(counts[:, 0])),
        "instructions_min": int(counts[:, 0].min()),
        "instructions_max": int(counts[:, 0].max()),
        "counter": "instructions (QEMU -icount shift=6, CMSDK TIMER0)",
        "per_layer_instructions": per_layer,
    }


def format_verification(summary: dict[str, Any]) -> str:
    lines = []
    if "instructions_per_inference" in summary:
        lines.append(
            f"{'layer':<12} {'kernel':<40} {'MACs':>12} {'instructions':>14} {'per MAC':>8}"
        )
        for entry in summary["per_layer"]:
            ratio = entry["instructions"] / entry["macs"] if entry["macs"] else 0.0
            lines.append(
                f"{entry['name']:<12} {entry['kernel']:<40} {entry['macs']:>12,} "
                f"{entry['instructions']:>14,} {ratio:>8.2f}"
            )
        lines.append(
            f"instructions per inference (median): {summary['instructions_per_inference']:,}; "
            f"arena {summary['arena_symbol_bytes']:,} bytes in the ELF (plan "
            f"{summary['arena_bytes']:,}); weights {summary['weight_symbol_bytes']:,} bytes "
            f"(plan {summary['weight_bytes']:,}), "
            f"{'in flash' if summary['weights_in_flash'] else 'NOT all in flash'}"
        )
    accuracy = summary["accuracy"]
    lines.append(
        f"{summary['images']} {'inputs' if 'tflm_mismatches' in summary else 'images'}: "
        f"{summary['mismatches']} mismatching bytes ({summary['mismatched_images']} "
        f"{'inputs' if 'tflm_mismatches' in summary else 'images'}) against the simulator"
        + (
            f", {summary['tflm_mismatches']} against TensorFlow Lite Micro "
            f"(tflite-micro {summary['tflm_version']})"
            if "tflm_mismatches" in summary
            else ""
        )
        + ("" if accuracy is None else f"; accuracy {accuracy:.4f}")
    )
    tflm_trace = summary.get("tflm_trace")
    if tflm_trace is not None:
        lines.append(
            f"first difference from TFLM: input {tflm_trace['input']}, layer "
            f"'{tflm_trace['layer']}', element {tflm_trace['element']}: simulator "
            f"{tflm_trace['simulator_value']}, TFLM {tflm_trace['tflm_value']}"
        )
    trace = summary.get("trace")
    if trace is not None:
        lines.append(
            f"first divergence: image {trace['image']}, layer '{trace['layer']}' "
            f"({trace['kernel']}), element {trace['element']} at HWC {trace['position_hwc']}: "
            f"C {trace['c_value']}, simulator {trace['simulator_value']}"
        )
    return "\n".join(lines)
