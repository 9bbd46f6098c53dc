"""The report of ``nn2mcu run``: report.json (the keys of ``verify --json`` for the run's
target, plus per-layer data), report.md and report.html (figures embedded as data: PNGs,
no external assets). Written last, each file atomically."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu.boards import BOARDS
from nn2mcu.codegen.lower import Program, flash_bytes
from nn2mcu.datasets import Dataset
from nn2mcu.filemode import make_public
from nn2mcu.inspect import summarize
from nn2mcu.ir import Graph
from nn2mcu.quant.calibrate import float_outputs, float_view
from nn2mcu.quant.s8.quantize import layer_rows
from nn2mcu.report import figures
from nn2mcu.report.render import render_html, render_markdown
from nn2mcu.schemes import scheme_of

ACTIVATION_IMAGES = 500


def _budget(summary: dict[str, Any], program: Program) -> dict[str, dict[str, int]]:
    weights = flash_bytes(program)
    if "text" in summary and summary.get("target") != "host":
        code = max(summary["text"] - weights, 0)
        return {
            "flash": {
                "weights and biases": weights,
                "code and constants": code,
                "initial data": summary["data"],
            },
            "RAM": {
                "arena": program.arena_size,
                "other data and bss": max(summary["data"] + summary["bss"] - program.arena_size, 0),
            },
        }
    return {"flash": {"weights and biases": weights}, "RAM": {"arena": program.arena_size}}


def write_report(
    output: Path,
    *,
    model_json: Path,
    program: Program,
    float_graph: Graph,
    dataset: Dataset,
    images: int,
    verified: dict[str, dict[str, Any]],
    outputs: dict[str, np.ndarray],
    board: str | None,
    target: str,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    model = program.model
    quantized = json.loads(model_json.read_text())["report"]
    summary = verified[target]
    labels = dataset.test.labels[:images]
    predicted = np.argmax(outputs[target], axis=1)
    classes = list(dataset.classes)
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)

    network = summarize(model.graph)
    budget = _budget(summary, program)
    _, limits, described = _board(board)

    pictures: dict[str, bytes] = {}
    rules = scheme_of(model)
    scheme = rules.name
    bars = {
        "float (PyTorch)": quantized["float_accuracy"],
        f"{scheme} simulator": quantized[f"{scheme}_accuracy"],
    }
    for name, result in verified.items():
        bars[f"C on {name}"] = result["accuracy"]
    pictures["accuracy"] = figures.accuracy_figure(bars)
    pictures["confusion"] = figures.confusion_figure(matrix, classes)
    view = float_view(float_graph)  # the float weights, with any input scale folded in
    names = list(model.weighted)
    activations = float_outputs(view, dataset.test.images[:ACTIVATION_IMAGES], names)
    layers = []
    for row in quantized["layers"]:
        name = row["name"]
        weights = view.graph.layer(name).weights["weight"]
        weight_range, output_range = rules.layer_ranges(row)
        pictures[f"histogram-{name}"] = figures.histogram_figure(
            name, weights, weight_range, activations[name], output_range, scheme
        )
        layers.append(row)
    pictures.update(_cost_pictures(summary, budget, limits))

    report = {
        **summary,
        "host": verified.get("host"),
        "network": network,
        "quantization": {
            "scheme": scheme,
            "float_accuracy": quantized["float_accuracy"],
            "quantized_accuracy": quantized[f"{scheme}_accuracy"],
            f"{scheme}_accuracy": quantized[f"{scheme}_accuracy"],
            "test_images": quantized["test_images"],
            **rules.report_rows(model, quantized),
        },
        "layers": layers,
        "warnings": quantized.get("warnings", []),
        "budget": budget,
        "board": described,
        "on_board": on_board(summary, budget, described),
        "provenance": provenance,
        "classes": classes,
        "confusion_matrix": matrix.tolist(),
        "figures": sorted(pictures),
    }
    _write_files(output, report, pictures)
    return report


def _cost_pictures(
    summary: dict[str, Any], budget: dict[str, dict[str, int]], limits: dict[str, int] | None
) -> dict[str, bytes]:
    """The instructions per layer against the MAC floor (when counted) and the budget."""
    pictures = {}
    if "instructions_per_inference" in summary:
        entries = summary["per_layer"]
        pictures["instructions"] = figures.instructions_figure(
            [e["name"] for e in entries],
            [e["instructions"] for e in entries],
            [e["macs"] // 2 for e in entries],
        )
    pictures["budget"] = figures.budget_figure(budget, limits)
    return pictures


def _write_files(output: Path, report: dict[str, Any], pictures: dict[str, bytes]) -> None:
    encoded = {name: base64.b64encode(png).decode() for name, png in pictures.items()}
    files = {
        "report.json": json.dumps(report, indent=2) + "\n",
        "report.md": render_markdown(report),
        "report.html": render_html(report, encoded),
    }
    for name, text in files.items():
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=output)
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        make_public(Path(temporary))
        os.replace(temporary, output / name)


def _board(board: str | None) -> tuple[Any, dict[str, int] | None, dict[str, Any] | None]:
    chosen = BOARDS.get(board) if board else None
    if chosen is None:
        return None, None, None
    described = {
        "name": chosen.name, "mcu": chosen.mcu, "core": chosen.core, "flash": chosen.flash,
        "ram": chosen.ram, "clock_hz": chosen.clock_hz,
    }  # fmt: skip
    return chosen, {"flash": chosen.flash, "RAM": chosen.ram}, described


def on_board(
    summary: dict[str, Any], budget: dict[str, dict[str, int]], board: dict[str, Any] | None
) -> dict[str, Any] | None:
    """What share of the board's flash and RAM the program takes and, from the instructions
    counted on the emulated core, an estimate of the time per inference at the board's
    clock (one instruction per cycle: flash wait states, memory and pipeline stalls are not
    modelled)."""
    if board is None:
        return None
    flash, ram = sum(budget["flash"].values()), sum(budget["RAM"].values())
    facts: dict[str, Any] = {
        "flash_bytes": flash,
        "flash_share": flash / board["flash"],
        "ram_bytes": ram,
        "ram_share": ram / board["ram"],
        "measured_on": summary["target"],
        "whole_program": summary["target"] != "host" and "text" in summary,
    }
    if "instructions_per_inference" in summary:
        instructions = summary["instructions_per_inference"]
        facts["estimated_ms"] = instructions / board["clock_hz"] * 1000
        facts["estimate_basis"] = (
            f"{instructions:,} instructions (counted on the emulated {summary['target']}) at "
            f"one per cycle of {board['clock_hz'] / 1e6:g} MHz; flash wait states, memory and "
            "pipeline stalls are not modelled, so a real board takes longer"
        )
    return facts


def write_imported_report(
    output: Path,
    *,
    program: Program,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    classes: list[str],
    verified: dict[str, dict[str, Any]],
    outputs: dict[str, np.ndarray],
    board: str | None,
    target: str,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of a run on a model imported from TFLite: no float model and no
    calibration; the histograms show the int8 weights and outputs dequantized (outputs of
    the simulator on the first inputs); accuracy and the confusion matrix only with
    labels."""
    from nn2mcu.simulate import simulate

    model: Any = program.model  # an s8 model (tensors, imported)
    summary = verified[target]
    rules = scheme_of(model)
    budget = _budget(summary, program)
    _, limits, described = _board(board)
    pictures: dict[str, bytes] = {}
    matrix = None
    if labels is not None:
        logits = model.graph.shapes[model.logits].size
        predicted = np.argmax(outputs[target][:, -logits:], axis=1)
        names = classes or [str(i) for i in range(logits)]
        matrix = np.zeros((len(names), len(names)), dtype=np.int64)
        np.add.at(matrix, (labels, predicted), 1)
        pictures["accuracy"] = figures.accuracy_figure(
            {f"C on {name}": result["accuracy"] for name, result in verified.items()}
        )
        pictures["confusion"] = figures.confusion_figure(matrix, names)
    values = simulate(model, inputs[:ACTIVATION_IMAGES])
    layers = layer_rows(model)
    for row in layers:
        name = row["name"]
        params = model.tensors[name]
        layer = model.weighted[name]
        axis = model.graph.layer(name).op.weight_channel_axis
        shape = [1] * layer.weight.ndim
        shape[axis] = -1
        weights = layer.weight * layer.weight_scales.reshape(shape)  # dequantized
        real = params.scale * (values[name].astype(np.float64) - params.zero_point)
        weight_range, output_range = rules.layer_ranges(row)
        pictures[f"histogram-{name}"] = figures.histogram_figure(
            name, weights, weight_range, real, output_range, rules.name
        )
    pictures.update(_cost_pictures(summary, budget, limits))
    report = {
        **summary,
        "host": verified.get("host"),
        "network": summarize(model.graph),
        "quantization": {
            "scheme": rules.name,
            "imported_from": Path(model.imported.path).name,
            "imported_sha256": model.imported.sha256,
            "test_images": len(inputs),
            **rules.report_rows(model, {}),
        },
        "layers": layers,
        "budget": budget,
        "board": described,
        "on_board": on_board(summary, budget, described),
        "provenance": provenance,
        "classes": classes,
        "confusion_matrix": None if matrix is None else matrix.tolist(),
        "figures": sorted(pictures),
    }
    _write_files(output, report, pictures)
    return report
