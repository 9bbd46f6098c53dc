"""Choosing formats by the bit-exact simulator's accuracy on the calibration split.

Start formats come from the float model's ranges: int bits = ceil(log2(max |v|)),
frac = 7 - int bits (capped so the kernels' shifts stay valid). Then, in graph order
(the input, then per convolution or inner product its weights, bias and output), each
format is tried from 3 more fractional bits than its start to 1 fewer, saturating
formats included, and the one with the highest simulated accuracy is kept (the
current one on ties). A candidate re-runs only the layers from the one it changes:
earlier layers' outputs are cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.q7.formats import FormatError, q_format
from nn2mcu.q7.model import LayerFormats, Q7Model
from nn2mcu.quant.calibrate import Calibration
from nn2mcu.quant.q7.build import build_model, q7_binding
from nn2mcu.simulate import classify, simulate

MAX_BIAS_SHIFT = 24  # an int8 bias shifted by at most 24 always fits in int32
MAX_OUT_SHIFT = 31


def start_frac(max_abs: float, what: str) -> int:
    """7 - ceil(log2(max |v|)); 7 for an all-zero tensor."""
    if not math.isfinite(max_abs):
        raise InputError(f"{what}: its range is not finite")
    if max_abs == 0:
        return 7
    return 7 - math.ceil(math.log2(max_abs))


def make_valid(
    graph: Graph, input_frac: int, formats: Mapping[str, LayerFormats], *, strict: bool = False
) -> dict[str, LayerFormats]:
    """Formats adjusted, in graph order, so that 0 <= bias_shift <= 24 and
    0 <= out_shift <= 31 (a bias or output may not carry more fractional bits than the
    accumulator, nor 24/31 fewer).

    ``strict``: refuse instead of coarsening a bias or output beyond the shift limits,
    which would saturate it: its layer's ranges are then too far apart for any 8-bit
    format (weights far too small for what the layer outputs)."""
    fixed: dict[str, LayerFormats] = {}
    fracs: dict[str, int] = {}
    for layer in graph.layers:
        if layer.op.arity == 0:
            fracs[layer.name] = input_frac
            continue
        chosen = None
        if graph.takes_weights(layer):
            f = formats[layer.name]
            accumulator = fracs[layer.inputs[0]] + f.w_frac
            if strict:
                _check_shifts(layer.name, f, accumulator)
            bias = min(max(f.bias_frac, accumulator - MAX_BIAS_SHIFT), accumulator)
            chosen = min(max(f.out_frac, accumulator - MAX_OUT_SHIFT), accumulator)
            fixed[layer.name] = LayerFormats(f.w_frac, bias, chosen)
        fracs[layer.name] = q7_binding(graph, layer.name).output_frac(
            [fracs[name] for name in layer.inputs], chosen
        )
    return fixed


def _check_shifts(name: str, f: LayerFormats, accumulator: int) -> None:
    for what, frac, limit in (
        ("output", f.out_frac, MAX_OUT_SHIFT),
        ("bias", f.bias_frac, MAX_BIAS_SHIFT),
    ):
        if accumulator - frac > limit:
            raise InputError(
                f"layer '{name}': its {what} ({q_format(frac)}) is {accumulator - frac} bits "
                f"coarser than its accumulator (weights {q_format(f.w_frac)}); no 8-bit format "
                f"the q7 kernels can run holds these values (shift at most {limit})"
            )


@dataclass
class _State:
    input_frac: int
    formats: dict[str, LayerFormats]
    model: Q7Model
    values: dict[str, npt.NDArray[np.int8]]
    accuracy: float


def search_formats(
    graph: Graph,
    *,
    calibration: Calibration,
    pixel_offset: int,
    mean: npt.NDArray[np.int64],
    ranges: Mapping[str, float],
    weight_ranges: Mapping[str, tuple[float, float]],
    options: Mapping[str, object],
    progress: Callable[[str], None] = lambda _: None,
) -> Q7Model:
    """The search method. ``ranges``: max |output| per weighted layer and for 'input';
    ``weight_ranges``: (max |weight|, max |bias|) per weighted layer."""
    names = [layer.name for layer in graph.layers]
    weighted = graph.weighted_layers()
    input_frac = start_frac(ranges["input"], "the input")
    starts: dict[str, LayerFormats] = {
        layer.name: LayerFormats(
            start_frac(weight_ranges[layer.name][0], f"layer '{layer.name}' weights"),
            start_frac(weight_ranges[layer.name][1], f"layer '{layer.name}' bias"),
            start_frac(ranges[layer.name], f"layer '{layer.name}' output"),
        )
        for layer in weighted
    }

    def build(input_frac: int, formats: Mapping[str, LayerFormats]) -> Q7Model:
        return build_model(
            graph,
            input_frac,
            input_frac + pixel_offset,
            mean,
            formats,
            **options,  # type: ignore[arg-type]
        )

    def evaluate(
        model: Q7Model, start: int, known: Mapping[str, npt.NDArray[np.int8]]
    ) -> tuple[float, dict[str, npt.NDArray[np.int8]]]:
        values = simulate(model, calibration.pixels, start=start, known=known)
        predicted = classify(model, values)
        return float(np.mean(predicted == calibration.labels)), values

    formats = make_valid(graph, input_frac, starts, strict=True)
    try:
        model = build(input_frac, formats)
    except FormatError as error:
        raise InputError(
            f"{error}: these values cannot be represented in an 8-bit format the q7 kernels can run"
        ) from None
    accuracy, values = evaluate(model, 0, {})
    state = _State(input_frac, formats, model, values, accuracy)
    progress(f"start formats: calibration accuracy {accuracy:.4f}")

    def try_candidates(kind: str, layer: str | None, current: int, start: int, index: int) -> None:
        for frac in [start + 3, start + 2, start + 1, start, start - 1]:
            if frac == current:
                continue
            if layer is None:
                input_frac, formats = frac, state.formats
            else:
                input_frac = state.input_frac
                changed = replace(state.formats[layer], **{kind: frac})
                formats = {**state.formats, layer: changed}
            formats = make_valid(graph, input_frac, formats)
            try:
                candidate = build(input_frac, formats)
            except FormatError:
                continue
            accuracy, values = evaluate(candidate, index, state.values)
            if accuracy > state.accuracy:
                state.input_frac, state.formats = input_frac, dict(formats)
                state.model, state.values, state.accuracy = candidate, values, accuracy

    try_candidates("input", None, state.input_frac, input_frac, 0)
    progress(f"input {q_format(state.input_frac)}: calibration accuracy {state.accuracy:.4f}")
    for layer in weighted:
        index = names.index(layer.name)
        for kind in ("w_frac", "bias_frac", "out_frac"):
            current = getattr(state.formats[layer.name], kind)
            try_candidates(kind, layer.name, current, getattr(starts[layer.name], kind), index)
        f = state.formats[layer.name]
        progress(
            f"{layer.name}: weights {q_format(f.w_frac)}, bias {q_format(f.bias_frac)}, "
            f"output {q_format(f.out_frac)}: calibration accuracy {state.accuracy:.4f}"
        )
    return state.model
