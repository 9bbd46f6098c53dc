"""s8 quantization: activation ranges from the calibration split, then the model.

The input's range is the min/max of the preprocessed calibration pixels. Each weighted
layer's output range has three candidates computed from its float outputs on the
calibration images: min/max, the 0.01 %/99.99 % percentiles, and the clipping of the
min/max range (scaled by 1, 0.9, ..., 0.5) with the least squared quantization error.
Layer by layer, in order, the candidate with the best accuracy of the bit-exact simulator
on the calibration images is kept (min/max unless another is strictly better).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nn2mcu.datasets import Dataset
from nn2mcu.ir import Graph
from nn2mcu.q7.preprocess import integer_mean
from nn2mcu.quant.calibrate import (
    Calibration,
    FloatView,
    calibration_split,
    float_outputs,
    float_view,
)
from nn2mcu.quant.check import check_graph
from nn2mcu.quant.s8.build import build_model, calibrated_layers
from nn2mcu.quant.sanity import range_warning, weight_warnings
from nn2mcu.s8.model import S8Model, TensorParams
from nn2mcu.simulate import SIMULATION_BATCH, classify, simulate, simulate_batched


@dataclass(frozen=True)
class S8Options:
    calibration: int = 2000
    single_rounding: bool = False  # CMSIS_NN_USE_SINGLE_ROUNDING
    pow2: bool = False  # every scale a power of two


@dataclass(frozen=True)
class S8Quantized:
    model: S8Model
    calibration: Calibration
    report: dict[str, Any]


Range = tuple[float, float]
Values = dict[str, npt.NDArray[np.int8]]


def _mse_range(values: np.ndarray) -> Range:
    """The scaled min/max range with the least squared error of 8-bit quantization."""
    low, high = float(values.min()), float(values.max())
    sample = values.ravel()[:: max(1, values.size // 200_000)].astype(np.float64)
    best, best_error = (low, high), math.inf
    for factor in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        params = TensorParams.from_range(low * factor, high * factor)
        q = np.clip(np.round(sample / params.scale) + params.zero_point, -128, 127)
        error = float(np.mean((params.scale * (q - params.zero_point) - sample) ** 2))
        if error < best_error:
            best, best_error = (low * factor, high * factor), error
    return best


def candidates(values: np.ndarray) -> dict[str, Range]:
    low, high = np.percentile(values, [0.01, 99.99])
    return {
        "minmax": (float(values.min()), float(values.max())),
        "percentile": (float(low), float(high)),
        "mse": _mse_range(values),
    }


def quantize_s8(
    graph: Graph,
    dataset: Dataset,
    calibration: int = 2000,
    progress: Callable[[str], None] = lambda _: None,
    *,
    single_rounding: bool = False,
    pow2: bool = False,
) -> S8Quantized:
    check_graph(graph, "s8")
    view = float_view(graph)
    split = calibration_split(dataset.train, min(calibration, len(dataset.train)))
    names = calibrated_layers(view.graph)
    floats = float_outputs(view, split.pixels, names)
    options = {name: candidates(floats[name]) for name in names}
    inputs = view.inputs(split.pixels)
    ranges: dict[str, Range] = {"input": (float(inputs.min()), float(inputs.max()))}
    ranges.update({name: options[name]["minmax"] for name in names})
    mean, logits = integer_mean(view.mean), view.graph.logits

    def build(trial: dict[str, Range]) -> S8Model:
        return build_model(view.graph, mean, view.scale_log2, trial, logits,
                           single_rounding=single_rounding, pow2=pow2)  # fmt: skip

    position = {layer.name: index for index, layer in enumerate(view.graph.layers)}

    def run(trial: dict[str, Range], start: int = 0, known: Values | None = None) -> Values:
        model = build(trial)
        return simulate_batched(model, split.pixels, start=start, known=known)

    def accuracy(values: Values) -> float:
        predicted = np.argmax(values[logits].reshape(len(split.labels), -1), axis=1)
        return float(np.mean(predicted == split.labels))

    chosen = {name: "minmax" for name in names}
    current = run(ranges)
    best = accuracy(current)
    progress(f"min/max ranges: calibration accuracy {best:.4f}")
    for name in names:
        # a layer's range changes its output and everything after it, nothing before
        for method in ("percentile", "mse"):
            trial = {**ranges, name: options[name][method]}
            values = run(trial, position[name], current)
            score = accuracy(values)
            if score > best:
                best, ranges, chosen[name], current = score, trial, method, values
        progress(f"{name}: {chosen[name]} range {ranges[name][0]:.4g}..{ranges[name][1]:.4g}: "
                 f"calibration accuracy {best:.4f}")  # fmt: skip
    model = build(ranges)
    report = evaluate(model, view, dataset)
    report["ranges"] = {
        name: {"method": chosen[name], "range": list(ranges[name])} for name in names
    }
    return S8Quantized(model, split, report)


def evaluate(
    model: S8Model, view: FloatView, dataset: Dataset, batch: int = SIMULATION_BATCH
) -> dict[str, Any]:
    """Float and s8 accuracy on the test split, and every weighted layer's parameters."""
    test = dataset.test
    predicted = np.concatenate(
        [
            classify(model, simulate(model, test.images[start : start + batch]))
            for start in range(0, len(test), batch)
        ]
    )
    floats = float_outputs(view, test.images, [model.logits])[model.logits]  # batches itself
    float_predicted = np.argmax(floats.reshape(len(test), -1), axis=1)
    layers = layer_rows(model)
    warnings: list[str | None] = [*weight_warnings(view.graph)]
    for row in layers:  # the output range the scale covers
        warnings.append(range_warning(row["name"], 128 * row["output_scale"]))
    return {
        "test_images": len(test),
        "float_accuracy": float(np.mean(float_predicted == test.labels)),
        "s8_accuracy": float(np.mean(predicted == test.labels)),
        "layers": layers,
        "warnings": [warning for warning in warnings if warning is not None],
    }


def format_report(report: dict[str, Any]) -> str:
    header = ("layer", "input scale/zp", "output scale/zp", "weight scales", "shifts", "range")
    rows = [header]
    for row in report["layers"]:
        method = report.get("ranges", {}).get(row["name"], {}).get("method", "")
        rows.append(
            (
                row["name"],
                f"{row['input_scale']:.4g}/{row['input_zero_point']}",
                f"{row['output_scale']:.4g}/{row['output_zero_point']}",
                f"{row['weight_scale_min']:.3g}..{row['weight_scale_max']:.3g}",
                f"{row['shift_min']}..{row['shift_max']}",
                method,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    table = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(
        [
            f"test set ({report['test_images']} images): float accuracy "
            f"{report['float_accuracy']:.4f}, s8 accuracy {report['s8_accuracy']:.4f}",
            *table,
        ]
    )


def layer_rows(model: S8Model) -> list[dict[str, Any]]:
    """The report's row of each weighted layer: its input and output scale and zero point,
    the range of its weight scales and shifts, and its activation range."""
    rows = []
    for name, layer in model.weighted.items():
        source = model.tensors[model.graph.layer(name).inputs[0]]
        out = model.tensors[name]
        rows.append(
            {
                "name": name,
                "input_scale": source.scale,
                "input_zero_point": source.zero_point,
                "output_scale": out.scale,
                "output_zero_point": out.zero_point,
                "weight_scale_min": float(layer.weight_scales.min()),
                "weight_scale_max": float(layer.weight_scales.max()),
                "shift_min": int(layer.shift.min()),
                "shift_max": int(layer.shift.max()),
                "activation": list(layer.activation),
            }
        )
    return rows
