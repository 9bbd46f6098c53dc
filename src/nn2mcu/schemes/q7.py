"""The q7 scheme: power-of-two Qm.n formats for the legacy CMSIS-NN q7 kernels (CMSIS 5.9.0
and earlier)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nn2mcu.datasets import Dataset
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.q7.formats import Shifts, layer_shifts, q_format
from nn2mcu.q7.matmul import check_shifts
from nn2mcu.q7.model import (
    AverageVariant,
    LayerFormats,
    Q7Model,
    SoftmaxVersion,
    WeightedLayer,
)
from nn2mcu.quant.q7.build import propagate
from nn2mcu.quant.q7.quantize import QuantizeOptions, format_report, quantize_q7
from nn2mcu.schemes.base import (
    KERNELS,
    CmsisBuild,
    Quantized,
    Scheme,
    check_range,
    int_array,
)

CMSIS_NN_SOURCES = (
    "ActivationFunctions", "ConvolutionFunctions", "FullyConnectedFunctions",
    "NNSupportFunctions", "PoolingFunctions", "SoftmaxFunctions",
)  # fmt: skip


class Q7Scheme(Scheme):
    name: ClassVar[str] = "q7"
    model_type: ClassVar[type] = Q7Model
    element_type: ClassVar[str] = "q7_t"
    status_ok: ClassVar[str] = "ARM_MATH_SUCCESS"
    kernel_files: ClassVar[tuple[Path, ...]] = tuple(
        sorted(path for path in (KERNELS / "q7").iterdir() if path.suffix in (".c", ".h"))
    )
    cmsis_variable: ClassVar[str] = "CMSIS_5_ROOT"
    cmsis_tree: ClassVar[str] = "CMSIS 5.x"
    cmsis_functions: ClassVar[str] = "the legacy q7 functions of CMSIS 5.x (up to 5.9.0)"
    api_words: ClassVar[str] = "8-bit Qm.n for CMSIS-NN's legacy q7 API"
    tensor_parameter: ClassVar[str] = "format"
    weight_arrays: ClassVar[tuple[str, ...]] = ("wt", "bias")

    def quantize(
        self, graph: Graph, dataset: Dataset, options: Any, progress: Callable[[str], None]
    ) -> Quantized:
        result = quantize_q7(graph, dataset, options or QuantizeOptions(), progress)
        return Quantized(result.model, result.calibration, result.report)

    def format_report(self, report: dict[str, Any]) -> str:
        return format_report(report)

    def from_quantized(
        self,
        graph: Graph,
        *,
        input_frac: int,
        pixel_frac: int,
        mean: np.ndarray,
        layers: Mapping[str, tuple[LayerFormats, np.ndarray, np.ndarray]],
        pool_variant: AverageVariant = AverageVariant.DSP,
        softmax_version: SoftmaxVersion = SoftmaxVersion.V2019,
    ) -> Q7Model:
        """A q7 model from formats and integer weights someone else chose: ``layers`` maps
        each weighted layer to (formats, int8 weight in IR layout, int8 bias)."""
        fracs = propagate(
            graph, input_frac, {name: f.out_frac for name, (f, _, _) in layers.items()}
        )
        weighted = {}
        for name, (formats, weight, bias) in layers.items():
            in_frac = fracs[graph.layer(name).inputs[0]]
            shifts = layer_shifts(in_frac, formats.w_frac, formats.bias_frac, formats.out_frac)
            weighted[name] = WeightedLayer(
                formats, shifts, np.asarray(weight, np.int64), np.asarray(bias, np.int64)
            )
        model = Q7Model(
            graph, input_frac, pixel_frac, np.asarray(mean, np.int64), weighted, fracs,
            pool_variant, softmax_version, graph.logits,
        )  # fmt: skip
        self.validate(model, "the quantized model")
        return model

    def write_fields(self, model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {"input.mean": model.mean.astype(np.int32)}
        for name, layer in model.weighted.items():
            arrays[f"{name}.weight"] = layer.weight.astype(np.int8)
            arrays[f"{name}.bias"] = layer.bias.astype(np.int8)
        fields = {
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
        return arrays, fields

    def read_fields(self, document: dict[str, Any], arrays: Any, graph: Graph) -> Q7Model:
        weighted = {
            name: WeightedLayer(
                LayerFormats(entry["w_frac"], entry["bias_frac"], entry["out_frac"]),
                Shifts(entry["bias_shift"], entry["out_shift"]),
                int_array(arrays, f"{name}.weight"),
                int_array(arrays, f"{name}.bias"),
            )
            for name, entry in document["layers"].items()
        }
        return Q7Model(
            graph=graph,
            input_frac=document["input"]["frac"],
            pixel_frac=document["input"]["pixel_frac"],
            mean=int_array(arrays, "input.mean"),
            weighted=weighted,
            fracs=document["fracs"],
            pool_variant=AverageVariant(document["kernels"]["average_pool"]),
            softmax_version=SoftmaxVersion(document["kernels"]["softmax"]),
            logits=document.get("logits") or graph.logits,
        )

    def tensor_parameters(self, model: Any) -> Mapping[str, Any]:
        return dict(model.fracs)

    def validate_tensors(self, where: str, parameters: Mapping[str, Any]) -> None:
        for name, frac in parameters.items():
            if isinstance(frac, bool) or not isinstance(frac, int):
                raise InputError(f"{where}: tensor '{name}': format {frac!r} is not an integer")

    def validate_layer(self, where: str, name: str, layer: Any, channels: int) -> None:
        if layer.bias.size:
            if layer.bias.shape != (channels,):
                raise InputError(
                    f"{where}: layer '{name}': bias has shape {list(layer.bias.shape)}, "
                    f"expected [{channels}]"
                )
            check_range(where, f"layer '{name}' bias", layer.bias, -128, 127)
        for shift in ("bias_shift", "out_shift"):
            value = getattr(layer.shifts, shift)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 31:
                raise InputError(f"{where}: layer '{name}': {shift} {value!r} is outside 0..31")
        try:
            check_shifts(layer.bias, layer.shifts.bias_shift, layer.shifts.out_shift)
        except ValueError as error:
            raise InputError(f"{where}: layer '{name}': {error}") from None

    def weight_bytes(self, model: Any) -> int:
        return sum(
            layer.weight.size + (layer.bias.size or model.graph.shapes[name].c)
            for name, layer in model.weighted.items()
        )

    def value_format(self, model: Any, tensor: str) -> str:
        frac = model.fracs[tensor]
        scale = f"q / 2^{frac}" if frac >= 0 else f"q * 2^{-frac}"
        return f"q7_t in {q_format(frac)}: real = {scale}"

    def input_defines(self, model: Any) -> list[str]:
        return [f"#define NN_INPUT_PIXEL_FRAC {model.pixel_frac}"]

    def nn_c_parts(self, model: Any) -> dict[str, str]:
        frac = model.pixel_frac
        if frac > 23:
            raise InputError(f"input pixel format with {frac} fractional bits is out of range")
        if frac >= 0:
            scaled = f"centred * {1 << frac}"
        else:
            rounding = 1 << (-frac - 1)
            value, shift = f"(centred + {rounding})", -frac
            scaled = f"{value} >= 0 ? {value} >> {shift} : ~((~{value}) >> {shift})"
        return {
            "includes": '#include <string.h>\n\n#include "nn.h"\n#include "weights.h"\n',
            "quantized": scaled,
        }

    def cmsis_build(self, root: Path) -> CmsisBuild:
        return CmsisBuild(
            variable=self.cmsis_variable,
            comment=(
                "# Generated by nn2mcu. Builds against CMSIS-NN's legacy q7 kernels from a "
                "CMSIS 5.x\n# tree (5.9.0 or earlier): make CMSIS_5_ROOT=/path/to/CMSIS_5 "
                "[nn_host | cortex-m4 | ...]"
            ),
            nn="CMSIS/NN",
            includes=("CMSIS/NN/Include", "CMSIS/DSP/Include", "CMSIS/Core/Include"),
            sources=tuple(f"Source/{folder}/*.c" for folder in CMSIS_NN_SOURCES),
        )

    def check_cmsis_root(self, root: str | None, calls: list[Any]) -> Path:
        """The CMSIS_5 tree named by CMSIS_5_ROOT, checked for the legacy q7 API."""
        if not root:
            raise InputError(
                "--kernels cmsis needs CMSIS_5_ROOT: the root of a CMSIS 5.x tree (<= 5.9.0)"
            )
        header = Path(root) / "CMSIS" / "NN" / "Include" / "arm_nnfunctions.h"
        if not header.is_file():
            raise InputError(f"CMSIS_5_ROOT={root}: {header} not found")
        if "arm_convolve_HWC_q7_basic" not in header.read_text(errors="replace"):
            raise InputError(
                f"CMSIS_5_ROOT={root}: {header} has no legacy q7 API (removed in CMSIS-NN 4.0; "
                "use CMSIS 5.9.0 or earlier)"
            )
        for name in ("DSP/Include/arm_math_types.h", "Core/Include/cmsis_compiler.h"):
            if not (Path(root) / "CMSIS" / name).is_file():
                raise InputError(f"CMSIS_5_ROOT={root}: CMSIS/{name} not found")
        return Path(root)

    def reference_model(self, model: Any, target: str, kernels: str) -> Any:
        """The average pool the linked kernels compute: CMSIS-NN built for a host takes its
        plain-C 2-D path; Cortex-M builds take the DSP path (the portable kernels on the
        host compute the model's own variant)."""
        import dataclasses

        if target != "host":
            return dataclasses.replace(model, pool_variant=AverageVariant.DSP)
        if kernels == "cmsis":
            return dataclasses.replace(model, pool_variant=AverageVariant.TWO_D)
        return model

    def report_rows(self, model: Any, report: dict[str, Any]) -> dict[str, Any]:
        return {"input": q_format(model.input_frac), "input_frac": report["input_frac"]}

    def layer_table(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        """The report's per-layer table (a header row, then one row per layer)."""
        layers = [
            [
                "layer",
                "weights",
                "bias",
                "input",
                "output",
                "bias_shift",
                "out_shift",
                "saturated",
                "SQNR (dB)",
            ]
        ]
        for row in rows:
            sqnr = "exact" if row["sqnr_db"] is None else f"{row['sqnr_db']:.1f}"
            layers.append(
                [
                    row["name"],
                    q_format(row["w_frac"]),
                    q_format(row["bias_frac"]),
                    q_format(row["in_frac"]),
                    q_format(row["out_frac"]),
                    str(row["bias_shift"]),
                    str(row["out_shift"]),
                    _saturation(row),
                    sqnr,
                ]
            )
        return layers

    def layer_ranges(self, row: dict[str, Any]) -> tuple[tuple[float, float], tuple[float, float]]:
        return (
            (-128 / 2.0 ** row["w_frac"], 127 / 2.0 ** row["w_frac"]),
            (-128 / 2.0 ** row["out_frac"], 127 / 2.0 ** row["out_frac"]),
        )


def _saturation(row: dict[str, Any]) -> str:
    """The saturated fraction, noting clipping at -128 before an operator that makes
    negative values 0 anyway (harmless)."""
    text = f"{100 * row['saturated']:.2f} %"
    low, zeroed_by = row.get("saturated_low", 0.0), row.get("negatives_zeroed_by")
    if zeroed_by and low > 0:
        text += f" ({100 * low:.2f} % at -128 before a {zeroed_by}: harmless)"
    return text


Q7 = Q7Scheme()
