"""The s8 scheme: TFLite-style per-channel int8 for CMSIS-NN's s8 API (v4 and later)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nn2mcu.datasets import Dataset
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.quant.s8.quantize import S8Options, format_report, quantize_s8
from nn2mcu.s8.model import ImportedFrom, S8Layer, S8Model, TensorParams
from nn2mcu.schemes.base import (
    KERNELS,
    CmsisBuild,
    Quantized,
    Scheme,
    check_range,
    float_array,
    int_array,
    is_int,
)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def check_multipliers(where: str, what: str, multipliers: Any, shifts: Any) -> None:
    """Requantization parameters as QuantizeMultiplier makes them: each multiplier 0 or in
    [2^30, 2^31), each shift in -31..30 (arm_nn_requantize shifts by up to 31 bits)."""
    values = np.asarray(multipliers)
    shift = np.asarray(shifts)
    if not (np.issubdtype(values.dtype, np.integer) and np.issubdtype(shift.dtype, np.integer)):
        raise InputError(f"{where}: {what}: multiplier and shift must be integers")
    wrong = (values != 0) & ((values < 1 << 30) | (values > INT32_MAX))
    if wrong.any():
        value = int(values[wrong][0])
        raise InputError(f"{where}: {what}: multiplier {value} is neither 0 nor in [2^30, 2^31)")
    if shift.size and (shift.min() < -31 or shift.max() > 30):
        raise InputError(
            f"{where}: {what}: shift {int(shift.min())}..{int(shift.max())} is outside -31..30"
        )


class S8Scheme(Scheme):
    name: ClassVar[str] = "s8"
    model_type: ClassVar[type] = S8Model
    element_type: ClassVar[str] = "int8_t"
    status_ok: ClassVar[str] = "ARM_CMSIS_NN_SUCCESS"
    kernel_files: ClassVar[tuple[Path, ...]] = (
        *sorted(path for path in (KERNELS / "s8").iterdir() if path.suffix in (".c", ".h")),
        KERNELS / "q7" / "nn2mcu_simd.h",  # the s8 kernels share the SIMD helpers
    )
    cmsis_variable: ClassVar[str] = "CMSIS_NN_ROOT"
    cmsis_tree: ClassVar[str] = "CMSIS-NN"
    cmsis_functions: ClassVar[str] = "CMSIS-NN v7.0.0's s8 functions"
    api_words: ClassVar[str] = "per-channel int8 for CMSIS-NN's s8 API"
    tensor_parameter: ClassVar[str] = "scale and zero point"
    weight_arrays: ClassVar[tuple[str, ...]] = ("wt", "bias", "multiplier", "shift")

    def quantize(
        self, graph: Graph, dataset: Dataset, options: Any, progress: Callable[[str], None]
    ) -> Quantized:
        chosen = options or S8Options()
        result = quantize_s8(
            graph, dataset, chosen.calibration, progress,
            single_rounding=chosen.single_rounding, pow2=chosen.pow2,
        )  # fmt: skip
        return Quantized(result.model, result.calibration, result.report)

    def format_report(self, report: dict[str, Any]) -> str:
        return format_report(report)

    def from_quantized(
        self,
        graph: Graph,
        *,
        tensors: Mapping[str, TensorParams],
        layers: Mapping[str, S8Layer],
        mean: np.ndarray,
        input_multiplier: int,
        input_shift: int,
        scale_log2: int = 0,
        fused: frozenset[str] = frozenset(),
        pool_activation: Mapping[str, tuple[int, int]] | None = None,
        single_rounding: bool = False,
        imported: ImportedFrom | None = None,
    ) -> S8Model:
        """An s8 model from parameters someone else chose (an int8 TFLite model's scales,
        zero points, integer weights, biases, multipliers and shifts), checked."""
        model = S8Model(
            graph, np.asarray(mean, np.int64), scale_log2, input_multiplier, input_shift,
            dict(tensors), dict(layers), frozenset(fused), graph.logits,
            dict(pool_activation or {}), single_rounding, imported,
        )  # fmt: skip
        self.validate(model, "the quantized model")
        return model

    def write_fields(self, model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {"input.mean": model.mean.astype(np.int32)}
        for name, layer in model.weighted.items():
            arrays[f"{name}.weight"] = layer.weight.astype(np.int8)
            arrays[f"{name}.bias"] = layer.bias.astype(np.int32)
            arrays[f"{name}.weight_scales"] = np.asarray(layer.weight_scales, np.float64)
            arrays[f"{name}.multiplier"] = layer.multiplier.astype(np.int32)
            arrays[f"{name}.shift"] = layer.shift.astype(np.int32)
        fields = {
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
                name: {"activation": list(layer.activation)}
                for name, layer in model.weighted.items()
            },
            "fused_relu": sorted(model.fused),
            "pool_activation": {name: list(value) for name, value in model.pool_activation.items()},
            "logits": model.logits,
            "rounding": "single" if model.single_rounding else "double",
        }
        if model.imported is not None:
            source = model.imported
            fields["input"] = {"mode": "tensor"}
            fields["imported"] = {
                "format": "tflite",
                "path": source.path,
                "sha256": source.sha256,
                "tensors": dict(source.tensors),
                "float_input": source.float_input,
                "float_output": source.float_output,
                "output_tensor": source.output_tensor,
                "pixel_map": None if source.pixel_map is None else list(source.pixel_map),
            }
        return arrays, fields

    def read_fields(self, document: dict[str, Any], arrays: Any, graph: Graph) -> S8Model:
        imported = None
        if "imported" in document:
            entry = document["imported"]
            imported = ImportedFrom(
                str(entry["path"]), str(entry["sha256"]),
                {str(k): int(v) for k, v in entry["tensors"].items()},
                bool(entry["float_input"]), bool(entry["float_output"]),
                int(entry["output_tensor"]),
                None if entry.get("pixel_map") is None else (
                    float(entry["pixel_map"][0]), float(entry["pixel_map"][1])
                ),
            )  # fmt: skip
        tensor_input = imported is not None
        weighted = {
            name: S8Layer(
                weight=int_array(arrays, f"{name}.weight"),
                bias=int_array(arrays, f"{name}.bias"),
                weight_scales=float_array(arrays, f"{name}.weight_scales"),
                multiplier=int_array(arrays, f"{name}.multiplier"),
                shift=int_array(arrays, f"{name}.shift"),
                activation=(int(entry["activation"][0]), int(entry["activation"][1])),
            )
            for name, entry in document["layers"].items()
        }
        return S8Model(
            graph=graph,
            mean=int_array(arrays, "input.mean"),
            scale_log2=0 if tensor_input else document["input"]["scale_log2"],
            input_multiplier=0 if tensor_input else document["input"]["multiplier"],
            input_shift=0 if tensor_input else document["input"]["shift"],
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
            imported=imported,
        )

    def tensor_parameters(self, model: Any) -> Mapping[str, Any]:
        return dict(model.tensors)

    def validate(self, model: Any, where: str) -> None:
        """The shared checks, then the input stage's requantization, and the layers the
        fused activations and the pooling/add activation ranges name."""
        super().validate(model, where)
        names = set(model.graph.shapes)
        if not model.tensor_input:
            check_multipliers(where, "the input stage", [model.input_multiplier],
                              [model.input_shift])  # fmt: skip
            if not is_int(model.scale_log2):
                raise InputError(
                    f"{where}: input scale_log2 {model.scale_log2!r} is not an integer"
                )
        if not all(isinstance(name, str) for name in model.fused):
            raise InputError(
                f"{where}: fused_relu {sorted(map(str, model.fused))} must name layers"
            )
        for name in sorted(model.fused):
            if name not in names:
                raise InputError(f"{where}: fused_relu names '{name}', which is not a layer")
        for name, (low, high) in model.pool_activation.items():
            if name not in names:
                raise InputError(f"{where}: pool_activation names '{name}', which is not a layer")
            if not (is_int(low) and is_int(high) and -128 <= low <= high <= 127):
                raise InputError(f"{where}: layer '{name}': pool_activation {low}..{high}")
        imported = model.imported
        if imported is not None and imported.pixel_map is not None:
            mean, scale = imported.pixel_map
            if not (np.isfinite(mean) and np.isfinite(scale) and scale != 0):
                raise InputError(f"{where}: imported pixel_map {mean}, {scale} must be finite")

    def validate_tensors(self, where: str, parameters: Mapping[str, Any]) -> None:
        for name, params in parameters.items():
            scale = params.scale
            if isinstance(scale, bool) or not isinstance(scale, int | float):
                raise InputError(f"{where}: tensor '{name}': scale {scale!r} is not a number")
            if not (np.isfinite(scale) and scale > 0):
                raise InputError(f"{where}: tensor '{name}': scale {params.scale!r} must be > 0")
            if not is_int(params.zero_point):
                raise InputError(
                    f"{where}: tensor '{name}': zero point {params.zero_point!r} is not an integer"
                )
            if not -128 <= params.zero_point <= 127:
                raise InputError(
                    f"{where}: tensor '{name}': zero point {params.zero_point} is outside int8"
                )

    def validate_layer(self, where: str, name: str, layer: Any, channels: int) -> None:
        for key in ("bias", "multiplier", "shift"):
            values = getattr(layer, key)
            if values.shape != (channels,):
                raise InputError(
                    f"{where}: layer '{name}': {key} has shape {list(values.shape)}, "
                    f"expected [{channels}]"
                )
        check_range(where, f"layer '{name}' bias", layer.bias, INT32_MIN, INT32_MAX)
        check_multipliers(where, f"layer '{name}'", layer.multiplier, layer.shift)
        low, high = layer.activation
        if not (is_int(low) and is_int(high) and -128 <= low <= high <= 127):
            raise InputError(f"{where}: layer '{name}': activation range {low}..{high}")

    def weight_bytes(self, model: Any) -> int:
        return sum(
            layer.weight.size + 4 * (layer.bias.size + layer.multiplier.size + layer.shift.size)
            for layer in model.weighted.values()
        )

    def value_format(self, model: Any, tensor: str) -> str:
        params = model.tensors[tensor]
        zero = int(params.zero_point)
        offset = f"q - {zero}" if zero >= 0 else f"q + {-zero}"
        return f"int8_t: real = {params.scale!r} * ({offset})"

    def input_defines(self, model: Any) -> list[str]:
        if model.tensor_input:
            graph = model.graph
            out = model.tensors[graph.outputs[0]]
            return [
                "/* the int8 input and output tensors: real = scale * (q - zero point) */",
                f"#define NN_INPUT_SCALE {model.input_params.scale!r}f",
                f"#define NN_INPUT_ZERO_POINT {model.input_params.zero_point}",
                f"#define NN_OUTPUT_SCALE {out.scale!r}f",
                f"#define NN_OUTPUT_ZERO_POINT {out.zero_point}",
            ]
        return [
            "/* input: q = clamp(requantize(p - M, multiplier, shift) + zero point, -128, 127) */",
            f"#define NN_INPUT_MULTIPLIER {model.input_multiplier}",
            f"#define NN_INPUT_SHIFT {model.input_shift}",
            f"#define NN_INPUT_ZERO_POINT {model.input_params.zero_point}",
        ]

    def nn_c_parts(self, model: Any) -> dict[str, str]:
        return {
            "includes": (
                "#include <stddef.h>\n#include <string.h>\n\n"
                '#include "arm_nnsupportfunctions.h"\n#include "nn.h"\n#include "weights.h"\n'
            ),
            "quantized": (
                "arm_nn_requantize(centred, NN_INPUT_MULTIPLIER, NN_INPUT_SHIFT) + "
                "NN_INPUT_ZERO_POINT"
            ),
        }

    def compile_definitions(self, model: Any) -> tuple[str, ...]:
        return ("CMSIS_NN_USE_SINGLE_ROUNDING",) if model.single_rounding else ()

    def cmsis_build(self, root: Path) -> CmsisBuild:
        return CmsisBuild(
            variable=self.cmsis_variable,
            comment=(
                "# Generated by nn2mcu. Builds against CMSIS-NN's s8 kernels from a CMSIS-NN "
                "tree\n# (v4 or later): make CMSIS_NN_ROOT=/path/to/CMSIS-NN "
                "[nn_host | cortex-m4 | ...]"
            ),
            nn="",
            includes=("Include",),
            sources=("Source/*/*.c",),
        )

    def check_cmsis_root(self, root: str | None, calls: list[Any]) -> Path:
        """The CMSIS-NN tree named by CMSIS_NN_ROOT, checked for the s8 functions the
        calls use."""
        if not root:
            raise InputError(
                "--kernels cmsis for an s8 model needs CMSIS_NN_ROOT: a CMSIS-NN tree (v4+)"
            )
        header = Path(root) / "Include" / "arm_nnfunctions.h"
        if not header.is_file():
            raise InputError(f"CMSIS_NN_ROOT={root}: {header} not found")
        text = header.read_text(errors="replace")
        for call in calls:
            name = call.kernel.name
            if name.startswith("arm_") and name not in text:
                raise InputError(
                    f"CMSIS_NN_ROOT={root}: {header} has no {name} (layer '{call.layer.name}'; "
                    "arm_fully_connected_per_channel_s8 needs CMSIS-NN v7.0.0 or later)"
                )
        return Path(root)

    def report_rows(self, model: Any, report: dict[str, Any]) -> dict[str, Any]:
        params = model.input_params
        if model.tensor_input:
            return {
                "input": (
                    f"the int8 tensor of {Path(model.imported.path).name}: scale "
                    f"{params.scale:.6g}, zero point {params.zero_point}"
                )
            }
        return {
            "input": (
                f"scale {params.scale:.6g}, zero point {params.zero_point}; "
                f"q = requantize(p - M, {model.input_multiplier}, {model.input_shift}) "
                f"{'-' if params.zero_point < 0 else '+'} {abs(params.zero_point)}"
            )
        }

    def layer_table(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        """The report's per-layer table (a header row, then one row per layer)."""
        layers = [
            ["layer", "input scale", "input zp", "output scale", "output zp", "weight scales",
             "shifts", "activation"]
        ]  # fmt: skip
        for row in rows:
            layers.append(
                [
                    row["name"],
                    f"{row['input_scale']:.4g}",
                    str(row["input_zero_point"]),
                    f"{row['output_scale']:.4g}",
                    str(row["output_zero_point"]),
                    f"{row['weight_scale_min']:.3g} .. {row['weight_scale_max']:.3g}",
                    f"{row['shift_min']} .. {row['shift_max']}",
                    "{} .. {}".format(*row["activation"]),
                ]
            )
        return layers

    def layer_ranges(self, row: dict[str, Any]) -> tuple[tuple[float, float], tuple[float, float]]:
        largest = 127 * row["weight_scale_max"]  # per channel; the widest channel's
        scale, zero_point = row["output_scale"], row["output_zero_point"]
        return (-largest, largest), (scale * (-128 - zero_point), scale * (127 - zero_point))


S8 = S8Scheme()
