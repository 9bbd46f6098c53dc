"""``nn2mcu quantize --scheme q7``: formats, integer weights and the accuracy report."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nn2mcu.datasets import Dataset, Split
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.q7.arithmetic import INT8_MAX, INT8_MIN
from nn2mcu.q7.formats import q_format
from nn2mcu.q7.model import AverageVariant, Q7Model, SoftmaxVersion
from nn2mcu.q7.preprocess import integer_mean
from nn2mcu.quant.calibrate import (
    Calibration,
    FloatView,
    calibration_split,
    float_outputs,
    float_view,
)
from nn2mcu.quant.check import check_graph
from nn2mcu.quant.q7.arm_method import arm_formats
from nn2mcu.quant.q7.search import search_formats
from nn2mcu.quant.sanity import (
    negatives_zeroed_by,
    range_warning,
    saturation_warning,
    weight_warnings,
)
from nn2mcu.simulate import classify, simulate

BATCH = 1000


@dataclass(frozen=True)
class QuantizeOptions:
    method: str = "search"
    calibration: int = 2000
    arm_test_set: bool = False  # --method arm on the test set, as the original did
    pool_variant: AverageVariant = AverageVariant.DSP
    softmax_version: SoftmaxVersion = SoftmaxVersion.V2019


@dataclass
class Quantized:
    model: Q7Model
    calibration: Calibration
    view: FloatView
    report: dict[str, Any] = field(default_factory=dict)


def quantize_q7(
    graph: Graph,
    dataset: Dataset,
    options: QuantizeOptions = QuantizeOptions(),
    progress: Callable[[str], None] = lambda _: None,
) -> Quantized:
    check_graph(graph, "q7")
    view = float_view(graph)
    if options.arm_test_set:
        if options.method != "arm":
            raise InputError("--arm-test-set goes with --method arm only")
        calibration = calibration_split(dataset.test, len(dataset.test))
    else:
        calibration = calibration_split(dataset.train, options.calibration)
    mean = integer_mean(view.mean)
    kernels = {"pool_variant": options.pool_variant, "softmax_version": options.softmax_version}
    if options.method == "arm":
        model = arm_formats(
            view.graph,
            view=view,
            calibration=calibration,
            mean=mean,
            options=kernels,
            progress=progress,
        )
    elif options.method == "search":
        model = search_formats(
            view.graph,
            calibration=calibration,
            pixel_offset=view.scale_log2,
            mean=mean,
            ranges=_ranges(view, calibration),
            weight_ranges=_weight_ranges(view.graph),
            options=kernels,
            progress=progress,
        )
    else:
        raise InputError(f"--method {options.method}: choose search or arm")
    result = Quantized(model, calibration, view)
    result.report = evaluate(model, view, dataset.test)
    return result


def _ranges(view: FloatView, calibration: Calibration) -> dict[str, float]:
    """max |output| of every convolution and inner product, and of the input."""
    names = [layer.name for layer in view.graph.weighted_layers()]
    floats = float_outputs(view, calibration.pixels, names)
    ranges = {name: float(np.abs(floats[name]).max()) for name in names}
    ranges["input"] = float(np.abs(view.inputs(calibration.pixels)).max())
    return ranges


def _weight_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """(max |weight|, max |bias|) of every convolution and inner product."""
    return {
        layer.name: (
            float(np.abs(layer.weights["weight"]).max()),
            float(np.abs(layer.weights["bias"]).max()) if "bias" in layer.weights else 0.0,
        )
        for layer in graph.weighted_layers()
    }


def _sqnr(signal: float, noise: float) -> float | None:
    """10 log10(signal / noise) of sums of squares; None when exact."""
    if noise == 0:
        return None  # exact
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def evaluate(model: Q7Model, view: FloatView, test: Split) -> dict[str, Any]:
    """Float vs q7 accuracy on the test split, and per layer formats, shifts, saturation
    and SQNR (the q7 output, dequantized, against the float model's). Batch by batch, so
    that no layer's outputs over the whole test set are held at once."""
    weighted = [name for name in model.weighted]
    names = list(dict.fromkeys([*weighted, model.logits]))
    sums = {name: {"low": 0, "high": 0, "signal": 0.0, "noise": 0.0, "largest": 0.0}
            for name in weighted}  # fmt: skip
    float_pred, q7_pred = [], []
    for start in range(0, len(test), BATCH):
        pixels = test.images[start : start + BATCH]
        floats = float_outputs(view, pixels, names)
        ints = simulate(model, pixels)
        float_pred.append(np.argmax(floats[model.logits].reshape(len(pixels), -1), axis=1))
        q7_pred.append(classify(model, {model.logits: ints[model.logits]}))
        for name in weighted:
            values, reference = ints[name], floats[name].astype(np.float64)
            dequantized = values.astype(np.float64) / 2.0 ** model.weighted[name].formats.out_frac
            entry = sums[name]
            entry["low"] += int(np.count_nonzero(values == INT8_MIN))
            entry["high"] += int(np.count_nonzero(values == INT8_MAX))
            entry["signal"] += float(np.sum(reference**2))
            entry["noise"] += float(np.sum((reference - dequantized) ** 2))
            entry["largest"] = max(entry["largest"], float(np.abs(reference).max(initial=0.0)))
    layers: list[dict[str, Any]] = []
    for name in weighted:
        q = model.weighted[name]
        entry = sums[name]
        size = len(test) * model.graph.shapes[name].size
        low, high = entry["low"] / size, entry["high"] / size
        layers.append(
            {
                "name": name,
                "w_frac": q.formats.w_frac,
                "bias_frac": q.formats.bias_frac,
                "out_frac": q.formats.out_frac,
                "in_frac": model.fracs[model.graph.layer(name).inputs[0]],
                "bias_shift": q.shifts.bias_shift,
                "out_shift": q.shifts.out_shift,
                "saturated": low + high,
                "saturated_low": low,
                "saturated_high": high,
                "negatives_zeroed_by": negatives_zeroed_by(model.graph, name),
                "sqnr_db": _sqnr(entry["signal"], entry["noise"]),
            }
        )
    warnings: list[str | None] = [*weight_warnings(view.graph)]
    for name in weighted:
        warnings.append(range_warning(name, sums[name]["largest"]))
    for row in layers:
        warnings.append(
            saturation_warning(
                row["name"], row["saturated_low"], row["saturated_high"], row["negatives_zeroed_by"]
            )
        )
    labels = test.labels
    return {
        "test_images": len(test),
        "float_accuracy": float(np.mean(np.concatenate(float_pred) == labels)),
        "q7_accuracy": float(np.mean(np.concatenate(q7_pred) == labels)),
        "input_frac": model.input_frac,
        "layers": layers,
        "warnings": [warning for warning in warnings if warning is not None],
    }


def format_report(report: dict[str, Any]) -> str:
    header = ("layer", "weights", "bias", "output", "bias_shift", "out_shift", "saturated", "SQNR")
    rows = [header]
    for row in report["layers"]:
        rows.append(
            (
                row["name"],
                q_format(row["w_frac"]),
                q_format(row["bias_frac"]),
                q_format(row["out_frac"]),
                str(row["bias_shift"]),
                str(row["out_shift"]),
                f"{100 * row['saturated']:.2f}%",
                "exact" if row["sqnr_db"] is None else f"{row['sqnr_db']:.1f} dB",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    table = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(
        [
            f"test set ({report['test_images']} images): float accuracy "
            f"{report['float_accuracy']:.4f}, q7 accuracy {report['q7_accuracy']:.4f}",
            f"input: {q_format(report['input_frac'])}",
            *table,
        ]
    )
