"""An s8 model.json and its .npz sidecar.

model.json holds the schema version, scheme "s8", the graph, the input's preprocessing
(scale_log2, multiplier, shift; M is in the sidecar), every layer output's scale and zero
point, each weighted layer's activation range, the fused ReLUs, the pools' activation
ranges, the rounding mode, the calibration hash, the float weights' path and hash, and
the report. <stem>.npz holds <layer>.weight (int8, IR layout), <layer>.bias (int32),
<layer>.weight_scales (float64), <layer>.multiplier and <layer>.shift (int32) and
input.mean (M).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu.ir.serialize import graph_from_dict, graph_to_dict
from nn2mcu.modelfile import read_document, write_files
from nn2mcu.s8.model import S8Layer, S8Model, TensorParams


def write_s8_model(
    model: S8Model,
    path: Path,
    *,
    calibration: dict[str, Any],
    weights_file: Path,
    report: dict[str, Any],
) -> None:
    arrays: dict[str, np.ndarray] = {"input.mean": model.mean.astype(np.int32)}
    for name, layer in model.weighted.items():
        arrays[f"{name}.weight"] = layer.weight.astype(np.int8)
        arrays[f"{name}.bias"] = layer.bias.astype(np.int32)
        arrays[f"{name}.weight_scales"] = np.asarray(layer.weight_scales, np.float64)
        arrays[f"{name}.multiplier"] = layer.multiplier.astype(np.int32)
        arrays[f"{name}.shift"] = layer.shift.astype(np.int32)
    fields = {
        "graph": graph_to_dict(model.graph),
        "input": {
            "scale_log2": model.scale_log2,
            "multiplier": model.input_multiplier,
            "shift": model.input_shift,
            "mean": "per_pixel" if model.mean.ndim == 3 else "per_channel",
        },
        "tensors": {
            name: {"scale": params.scale, "zero_point": params.zero_point}
            for name, params in model.tensors.items()
        },
        "layers": {
            name: {"activation": list(layer.activation)} for name, layer in model.weighted.items()
        },
        "fused_relu": sorted(model.fused),
        "pool_activation": {name: list(value) for name, value in model.pool_activation.items()},
        "logits": model.logits,
        "rounding": "single" if model.single_rounding else "double",
    }
    write_files(
        path,
        "s8",
        arrays,
        fields,
        calibration=calibration,
        weights_file=weights_file,
        report=report,
    )


def read_s8_model(path: Path) -> S8Model:
    """An s8 model.json (and its sidecar, checked against its hash) as an S8Model whose
    graph carries no float weights."""
    document, sidecar = read_document(path, "s8")
    graph = graph_from_dict(document["graph"])
    with np.load(sidecar, allow_pickle=False) as arrays:
        weighted = {
            name: S8Layer(
                weight=arrays[f"{name}.weight"].astype(np.int64),
                bias=arrays[f"{name}.bias"].astype(np.int64),
                weight_scales=arrays[f"{name}.weight_scales"].astype(np.float64),
                multiplier=arrays[f"{name}.multiplier"].astype(np.int64),
                shift=arrays[f"{name}.shift"].astype(np.int64),
                activation=(int(entry["activation"][0]), int(entry["activation"][1])),
            )
            for name, entry in document["layers"].items()
        }
        mean = arrays["input.mean"].astype(np.int64)
    return S8Model(
        graph=graph,
        mean=mean,
        scale_log2=document["input"]["scale_log2"],
        input_multiplier=document["input"]["multiplier"],
        input_shift=document["input"]["shift"],
        tensors={
            name: TensorParams(entry["scale"], entry["zero_point"])
            for name, entry in document["tensors"].items()
        },
        weighted=weighted,
        fused=frozenset(document["fused_relu"]),
        logits=document["logits"],
        pool_activation={
            name: (int(value[0]), int(value[1]))
            for name, value in document["pool_activation"].items()
        },
        single_rounding=document["rounding"] == "single",
    )
