"""s8 quantization: activation ranges from the calibration split, then the model.

First version: each range is the min/max of the float outputs over the calibration
images (the input's from the preprocessed pixels). Percentile and MSE ranges chosen per
layer by the simulator's accuracy are still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nn2mcu.datasets import Dataset
from nn2mcu.ir import Graph
from nn2mcu.q7.calibrate import Calibration, calibration_split, float_outputs, float_view
from nn2mcu.q7.model import logits_layer
from nn2mcu.q7.preprocess import integer_mean
from nn2mcu.s8.model import WEIGHTED, S8Model, build_model
from nn2mcu.s8.simulate import classify, simulate


@dataclass(frozen=True)
class S8Quantized:
    model: S8Model
    calibration: Calibration
    report: dict[str, Any]


def quantize_s8(graph: Graph, dataset: Dataset, calibration: int = 2000) -> S8Quantized:
    view = float_view(graph)
    split = calibration_split(dataset.train, min(calibration, len(dataset.train)))
    names = [layer.name for layer in view.graph.layers if isinstance(layer.op, WEIGHTED)]
    floats = float_outputs(view, split.pixels, names)
    ranges = {name: (float(floats[name].min()), float(floats[name].max())) for name in names}
    inputs = view.inputs(split.pixels)
    ranges["input"] = (float(inputs.min()), float(inputs.max()))
    model = build_model(
        view.graph, integer_mean(view.mean), view.scale_log2, ranges, logits_layer(view.graph)
    )
    return S8Quantized(model, split, evaluate(model, dataset))


def evaluate(model: S8Model, dataset: Dataset, batch: int = 1000) -> dict[str, Any]:
    """s8 accuracy of the simulator on the test split."""
    test = dataset.test
    predictions = [
        classify(model, simulate(model, test.images[start : start + batch]))
        for start in range(0, len(test), batch)
    ]
    predicted = np.concatenate(predictions)
    return {"test_images": len(test), "s8_accuracy": float(np.mean(predicted == test.labels))}
