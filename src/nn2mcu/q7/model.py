"""A network quantized for the legacy q7 kernels: formats, shifts, integer weights.

Every activation tensor has one power-of-two format (``frac`` fractional bits). Layers
with weights (convolutions, inner products) choose their output format; each other
operator's q7 binding says what its output's is (the input's for activations, pooling,
dropout and flatten, whose kernels have no shift; Q0.7 for the softmax). The input's
format is ``input_frac``; pixels are preprocessed with ``pixel_frac`` = input_frac +
log2(scale) (see ``preprocess.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from nn2mcu.ir import Graph
from nn2mcu.q7.arithmetic import INT8_MAX, INT8_MIN, IntArray
from nn2mcu.q7.formats import Shifts
from nn2mcu.q7.preprocess import quantize_input

SOFTMAX_FRAC = 7


class AverageVariant(enum.Enum):
    """How arm_avepool_q7_HWC averages: the Cortex-M DSP build's two truncating passes
    (x, then y) or the plain-C build's single 2-D division (CMSIS-NN built for a host)."""

    DSP = "dsp"
    TWO_D = "2d"


class SoftmaxVersion(enum.Enum):
    """arm_softmax_q7's three historical formulas (CMSIS-NN Source/SoftmaxFunctions)."""

    V2019 = "2019"  # 2019-08 onwards; the one in CMSIS 5.9.0, the last legacy release
    V2018 = "2018"  # 2018-02 to 2019-08 (the era of the ML-examples workflow)
    V2017 = "2017"  # the first release


@dataclass(frozen=True)
class LayerFormats:
    """Formats a weighted layer chooses: weights, bias, output (fractional bits)."""

    w_frac: int
    bias_frac: int
    out_frac: int


@dataclass(frozen=True)
class WeightedLayer:
    formats: LayerFormats
    shifts: Shifts
    weight: IntArray  # IR layout, int8 values
    bias: IntArray


@dataclass(frozen=True)
class Q7Model:
    scheme: ClassVar[str] = "q7"

    graph: Graph  # float weights (the scale already folded into the first layer)
    input_frac: int
    pixel_frac: int
    mean: IntArray  # M: per pixel (H, W, C) or per channel (C,)
    weighted: Mapping[str, WeightedLayer]
    fracs: Mapping[str, int]  # output format of every layer
    pool_variant: AverageVariant = AverageVariant.DSP
    softmax_version: SoftmaxVersion = SoftmaxVersion.V2019
    logits: str = field(default="")  # the layer whose argmax classifies

    def formats(self) -> dict[str, LayerFormats]:
        return {name: layer.formats for name, layer in self.weighted.items()}

    @property
    def tensor_input(self) -> bool:
        """q7 models always take pixels (through nn_preprocess)."""
        return False

    @property
    def imported(self) -> None:
        """q7 models are nn2mcu's own (never imported)."""
        return None

    def input_stage(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
        """uint8 pixels to the network input, as nn_preprocess computes it."""
        return quantize_input(pixels, self.mean, self.pixel_frac).astype(np.int8)


def to_fixed(values: np.ndarray, frac: int) -> IntArray:
    """round(v * 2**frac) (half to even, as numpy rounds), saturated to int8."""
    scaled = np.round(np.asarray(values, dtype=np.float64) * 2.0**frac)
    return np.clip(scaled, INT8_MIN, INT8_MAX).astype(np.int64)
