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
    chosen = BOARDS.get(board) if board else None
    limits = {"flash": chosen.flash, "RAM": chosen.ram} if chosen else None

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
    if "instructions_per_inference" in summary:
        entries = summary["per_layer"]
        pictures["instructions"] = figures.instructions_figure(
            [e["name"] for e in entries],
            [e["instructions"] for e in entries],
            [e["macs"] // 2 for e in entries],
        )
    pictures["budget"] = figures.budget_figure(budget, limits)

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
        "budget": budget,
        "board": None
        if chosen is None
        else {
            "name": chosen.name,
            "mcu": chosen.mcu,
            "core": chosen.core,
            "flash": chosen.flash,
            "ram": chosen.ram,
        },
        "classes": classes,
        "confusion_matrix": matrix.tolist(),
        "figures": sorted(pictures),
    }
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
    return report
