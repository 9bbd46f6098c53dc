"""``--method arm``: the format choice of ARM's nn_quantizer.py, reproduced.

Three stages, layer by layer (seed-workflow.md section 2):

1. weights (convolutions first, then inner products, in net order), judged on the float
   network with fake-quantized weights: round(w 2^f) / 2^f, unsaturated for the first
   candidate and clipped to int8 after;
2. activations (the input, then every convolution and inner product output; average
   pooling keeps its input's format), judged on the float network with those tensors
   replaced by floor(x 2^f) / 2^f, unsaturated first, clipped after;
3. biases, judged by the bit-exact simulator (every format is known by then), with the
   fractional bits capped at in_frac + w_frac.

Each tensor starts from int bits ceil(log2(max |v|)) and tries up to 3 more fractional
bits; a candidate replaces the best only when strictly better; the search stops early
once the latest candidate is within the tolerance (0.001 percentage points) of the
stage's target accuracy. Formats the kernels cannot run (an output with more fractional
bits than its accumulator) are then capped, as the search method does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.q7.formats import FormatError, q_format
from nn2mcu.q7.model import LayerFormats, Q7Model
from nn2mcu.quant.calibrate import Calibration, FloatView
from nn2mcu.quant.q7.build import build_model
from nn2mcu.quant.q7.search import make_valid
from nn2mcu.simulate import classify, simulate
from nn2mcu.torch_net import TorchNet

TOLERANCE = 0.001 / 100  # nn_quantizer's 0.001, in percentage points
SEARCH_RANGE = 3


def start_int_bits(max_abs: float) -> int:
    return math.ceil(math.log2(max_abs)) if max_abs > 0 else 0


def arm_candidates(start_int: int, evaluate: Callable[[int, bool], float], target: float) -> int:
    """nn_quantizer's loop for one tensor: returns the chosen fractional bits.

    ``evaluate(frac, saturate)`` gives the accuracy with the tensor in that format.
    """
    int_bits = start_int
    best_frac = 7 - int_bits
    best = last = evaluate(best_frac, False)
    while target - last > TOLERANCE and int_bits > start_int - SEARCH_RANGE:
        int_bits -= 1
        last = evaluate(7 - int_bits, True)
        if last > best:
            best, best_frac = last, 7 - int_bits
    return best_frac


@dataclass
class _FakeQuant:
    """The float network with fake-quantized weights and activations."""

    view: FloatView
    calibration: Calibration

    def __post_init__(self) -> None:
        self.net = TorchNet(self.view.graph).eval()
        self.logits = self.view.graph.logits
        self.originals = {name: p.detach().clone() for name, _, p in self._weights()}
        self.activations: dict[str, tuple[int, bool]] = {}
        self.inputs = torch.from_numpy(
            self.view.inputs(self.calibration.pixels).transpose(0, 3, 1, 2).copy()
        )
        self.labels = self.calibration.labels

    def _weights(self) -> list[tuple[str, str, torch.nn.Parameter]]:
        return [(layer, name, p) for layer, name, p in self.net.learnable() if name == "weight"]

    def set_weight(self, layer: str, frac: int | None, saturate: bool) -> None:
        with torch.no_grad():
            for name, _, parameter in self._weights():
                if name == layer:
                    value = self.originals[name]
                    if frac is not None:
                        value = torch.round(value * 2.0**frac)
                        if saturate:
                            value = value.clamp(-128, 127)
                        value = value / 2.0**frac
                    parameter.copy_(value)

    @staticmethod
    def _floor(x: torch.Tensor, frac: int, saturate: bool) -> torch.Tensor:
        q = torch.floor(x * 2.0**frac)
        if saturate:
            q = q.clamp(-128, 127)
        return q / 2.0**frac

    def accuracy(self) -> float:
        correct = 0
        with torch.no_grad():
            for start in range(0, len(self.labels), 500):
                x = self.inputs[start : start + 500]
                predicted = self._forward(x).argmax(dim=1).numpy()
                correct += int(np.sum(predicted == self.labels[start : start + 500]))
        return correct / len(self.labels)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for layer, module in zip(self.net.graph.layers, self.net.layers, strict=True):
            is_input = layer.op.arity == 0
            out = x if is_input else module(*(values[name] for name in layer.inputs))
            if layer.name in self.activations:
                frac, saturate = self.activations[layer.name]
                out = self._floor(out, frac, saturate)
            values[layer.name] = out
        return values[self.logits].reshape(len(x), -1)

    def max_abs(self, names: list[str]) -> dict[str, float]:
        found = dict.fromkeys(names, 0.0)
        with torch.no_grad():
            for start in range(0, len(self.labels), 500):
                outputs = self.net(self.inputs[start : start + 500], outputs=names)
                for name in names:
                    found[name] = max(found[name], float(outputs[name].abs().max()))
        return found


def arm_formats(
    graph: Graph,
    *,
    view: FloatView,
    calibration: Calibration,
    mean: npt.NDArray[np.int64],
    options: Mapping[str, object],
    progress: Callable[[str], None] = lambda _: None,
) -> Q7Model:
    fake = _FakeQuant(view, calibration)
    weighted = graph.weighted_layers()
    # nn_quantizer.py takes the layers by Caffe type: convolutions, then inner products
    inner = [layer for layer in weighted if layer.op.type_name == "InnerProduct"]
    order = [layer for layer in weighted if layer not in inner] + inner
    target = fake.accuracy()
    progress(f"float calibration accuracy {target:.4f}")
    w_fracs: dict[str, int] = {}
    for layer in order:
        max_w = float(np.abs(layer.weights["weight"]).max())

        def evaluate_weight(frac: int, saturate: bool, name: str = layer.name) -> float:
            fake.set_weight(name, frac, saturate)
            return fake.accuracy()

        w_fracs[layer.name] = arm_candidates(start_int_bits(max_w), evaluate_weight, target)
        fake.set_weight(layer.name, w_fracs[layer.name], True)
        progress(f"{layer.name}: weights {q_format(w_fracs[layer.name])}")

    target = fake.accuracy()
    input_name = graph.input_name
    ends = [input_name] + [layer.name for layer in weighted]
    ranges = fake.max_abs(ends[1:])
    ranges[input_name] = float(fake.inputs.abs().max())
    a_fracs: dict[str, int] = {}
    for name in ends:

        def evaluate_activation(frac: int, saturate: bool, name: str = name) -> float:
            fake.activations[name] = (frac, saturate)
            return fake.accuracy()

        a_fracs[name] = arm_candidates(start_int_bits(ranges[name]), evaluate_activation, target)
        fake.activations[name] = (a_fracs[name], True)
        progress(f"{name}: output {q_format(a_fracs[name])}")

    input_frac = a_fracs[input_name]
    formats = {
        layer.name: LayerFormats(w_fracs[layer.name], 7, a_fracs[layer.name]) for layer in weighted
    }

    def build(formats: Mapping[str, LayerFormats]) -> Q7Model:
        return build_model(
            graph, input_frac, input_frac + view.scale_log2, mean,
            make_valid(graph, input_frac, formats), **options,  # type: ignore[arg-type]
        )  # fmt: skip

    def simulated(model: Q7Model) -> float:
        values = simulate(model, calibration.pixels)
        return float(np.mean(classify(model, values) == calibration.labels))

    try:
        provisional = build(formats)
    except FormatError as error:
        raise InputError(
            f"{error}: these values cannot be represented in an 8-bit format the q7 kernels can run"
        ) from None
    fracs = provisional.fracs
    target = simulated(provisional)
    for layer in weighted:
        mac = fracs[layer.inputs[0]] + w_fracs[layer.name]
        max_b = float(np.abs(layer.weights["bias"]).max()) if "bias" in layer.weights else 0.0
        start = start_int_bits(max_b)
        if 7 - start > mac:
            formats[layer.name] = LayerFormats(w_fracs[layer.name], mac, a_fracs[layer.name])
        else:

            def evaluate_bias(frac: int, saturate: bool, name: str = layer.name) -> float:
                trial = {**formats, name: LayerFormats(w_fracs[name], frac, a_fracs[name])}
                try:
                    return simulated(build(trial))
                except FormatError:
                    return -1.0

            chosen = arm_candidates(start, evaluate_bias, target)
            formats[layer.name] = LayerFormats(w_fracs[layer.name], chosen, a_fracs[layer.name])
        progress(f"{layer.name}: bias {q_format(formats[layer.name].bias_frac)}")
    return build(formats)
