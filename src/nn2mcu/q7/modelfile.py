"""model.json and its .npz sidecar: a quantized network as later stages read it.

model.json holds the schema version, the graph, every format and shift, the
preprocessing (M is in the sidecar), the calibration hash, the float weights' path
and hash, and the report; <stem>.npz holds <layer>.weight and <layer>.bias (int8 values,
IR layouts) and input.mean (M), and its sha256 is in model.json. Both are written
atomically (temporary files renamed into place, the sidecar first); no pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu.ir.serialize import graph_from_dict, graph_to_dict
from nn2mcu.modelfile import read_document, write_files
from nn2mcu.ops import AverageVariant, SoftmaxVersion
from nn2mcu.q7.formats import Shifts
from nn2mcu.q7.model import LayerFormats, Q7Model, WeightedLayer, logits_layer


def write_model(
    model: Q7Model,
    path: Path,
    *,
    calibration: dict[str, Any],
    weights_file: Path,
    report: dict[str, Any],
) -> None:
    arrays: dict[str, np.ndarray] = {"input.mean": model.mean.astype(np.int32)}
    for name, layer in model.weighted.items():
        arrays[f"{name}.weight"] = layer.weight.astype(np.int8)
        arrays[f"{name}.bias"] = layer.bias.astype(np.int8)
    fields = {
        "graph": graph_to_dict(model.graph),
        "input": {
            "frac": model.input_frac,
            "pixel_frac": model.pixel_frac,
            "mean": "per_pixel" if model.mean.ndim == 3 else "per_channel",
        },
        "layers": {
            name: {
                "w_frac": layer.formats.w_frac,
                "bias_frac": layer.formats.bias_frac,
                "out_frac": layer.formats.out_frac,
                "bias_shift": layer.shifts.bias_shift,
                "out_shift": layer.shifts.out_shift,
            }
            for name, layer in model.weighted.items()
        },
        "fracs": dict(model.fracs),
        "logits": model.logits,
        "kernels": {
            "average_pool": model.pool_variant.value,
            "softmax": model.softmax_version.value,
        },
    }
    write_files(
        path,
        "q7",
        arrays,
        fields,
        calibration=calibration,
        weights_file=weights_file,
        report=report,
    )


def read_model(path: Path) -> Q7Model:
    """A model.json (and its sidecar, checked against its hash) as a Q7Model whose graph
    carries no float weights."""
    document, sidecar = read_document(path, "q7")
    graph = graph_from_dict(document["graph"])
    with np.load(sidecar, allow_pickle=False) as arrays:
        weighted = {
            name: WeightedLayer(
                LayerFormats(entry["w_frac"], entry["bias_frac"], entry["out_frac"]),
                Shifts(entry["bias_shift"], entry["out_shift"]),
                arrays[f"{name}.weight"].astype(np.int64),
                arrays[f"{name}.bias"].astype(np.int64),
            )
            for name, entry in document["layers"].items()
        }
        mean = arrays["input.mean"].astype(np.int64)
    return Q7Model(
        graph=graph,
        input_frac=document["input"]["frac"],
        pixel_frac=document["input"]["pixel_frac"],
        mean=mean,
        weighted=weighted,
        fracs=document["fracs"],
        pool_variant=AverageVariant(document["kernels"]["average_pool"]),
        softmax_version=SoftmaxVersion(document["kernels"]["softmax"]),
        logits=document.get("logits") or logits_layer(graph),
    )


__all__ = ["read_model", "write_model"]
