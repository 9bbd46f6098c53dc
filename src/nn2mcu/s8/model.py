"""A network quantized for CMSIS-NN's s8 kernels (TFLite's int8 scheme).

Activations are asymmetric int8: real = scale * (q - zero_point). Weights of convolutions,
depthwise convolutions and inner products are symmetric int8 per output channel
(scale_w[o] = max|w[o]| / 127); biases are int32 with scale s_in * scale_w[o]; each output
channel requantizes with the multiplier and shift of s_in * scale_w[o] / s_out. An
activation (a clamp at 0, or at 0 and N) right after a layer that takes an activation
range (weighted layers, pooling: max and average commute with the clamp) is fused into
that range (act_min = the output zero point, act_max = zero point + round(N / scale)) and
its own layer passes values through (``fused``); other activations clamp on their own.
Each operator's s8 binding says which parameters its output has and what it refuses.

Pixels p become q = clamp(requantize(p - M, input multiplier, input shift) + zero
point, -128, 127) with M = floor(mean + 0.5) and the multiplier of 2^scale_log2 / s_in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from nn2mcu.ir import Graph
from nn2mcu.s8.arithmetic import IntArray, requantize

QMIN, QMAX = -128, 127


def _pow2_ceil(value: float) -> float:
    return float(2.0 ** math.ceil(math.log2(value)))


@dataclass(frozen=True)
class TensorParams:
    scale: float
    zero_point: int

    @staticmethod
    def from_range(low: float, high: float, pow2: bool = False) -> TensorParams:
        """TFLite's asymmetric parameters for a real range (widened to include 0); with
        ``pow2`` the scale is rounded up to a power of two."""
        low, high = min(low, 0.0), max(high, 0.0)
        if high - low < 1e-12:
            high = low + 1e-6
        scale = (high - low) / (QMAX - QMIN)
        if pow2:
            scale = _pow2_ceil(scale)
        zero_point = int(np.clip(round(QMIN - low / scale), QMIN, QMAX))
        return TensorParams(scale, zero_point)


@dataclass(frozen=True)
class S8Layer:
    weight: IntArray  # IR layout, int8 values
    bias: IntArray  # int32 values, one per output channel
    weight_scales: npt.NDArray[np.float64]  # per output channel
    multiplier: IntArray  # per output channel
    shift: IntArray
    activation: tuple[int, int]  # (act_min, act_max)


@dataclass(frozen=True)
class ImportedFrom:
    """The int8 TFLite file a model was imported from, as it was: its path and sha256, the
    TFLite tensor each layer's output is, and whether float QUANTIZE / DEQUANTIZE edges
    were stripped (the C takes and gives the int8 tensors inside them)."""

    path: str
    sha256: str
    tensors: Mapping[str, int]  # layer name -> TFLite tensor index
    float_input: bool = False
    float_output: bool = False
    output_tensor: int = -1  # the TFLite output tensor (the DEQUANTIZE's when float)
    # how this deployment maps uint8 pixels p to the input tensor: (M, S) of x = (p - M) * S,
    # q = clamp(round-half-away(x / scale) + zero point); None: it takes int8 tensors only
    pixel_map: tuple[float, float] | None = None

    def pixel_table(self, params: TensorParams) -> npt.NDArray[np.int8]:
        """The input tensor value of each pixel value 0..255 (nn_pixel_table in the C)."""
        from nn2mcu.datasets.tensors import pixels_to_tensors

        if self.pixel_map is None:
            raise ValueError("this model takes int8 tensors (no pixel mapping was given)")
        mean, scale = self.pixel_map
        levels = np.arange(256, dtype=np.uint8)
        return pixels_to_tensors(levels, mean, scale, params.scale, params.zero_point)


@dataclass(frozen=True)
class S8Model:
    scheme: ClassVar[str] = "s8"

    graph: Graph  # float weights (the input scale folded in)
    mean: IntArray  # M: per pixel (H, W, C) or per channel (C,)
    scale_log2: int
    input_multiplier: int
    input_shift: int
    tensors: Mapping[str, TensorParams]  # every layer's output
    weighted: Mapping[str, S8Layer]
    fused: frozenset[str]  # activation layers folded into the layer before them
    logits: str = field(default="")
    # (act_min, act_max) of layers without weights (pooling, add) whose following activation
    # is folded into them (the model file keeps the name pool_activation)
    pool_activation: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    single_rounding: bool = False  # CMSIS_NN_USE_SINGLE_ROUNDING
    # a model imported from TFLite takes int8 tensors, not pixels (no input stage)
    imported: ImportedFrom | None = None

    @property
    def input_params(self) -> TensorParams:
        return self.tensors[self.graph.layers[0].name]

    @property
    def tensor_input(self) -> bool:
        return self.imported is not None

    def input_stage(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
        """q = clamp(requantize(p - M, input multiplier, input shift) + zero point, -128,
        127), as nn_preprocess computes it. A model imported from TFLite takes int8 input
        tensors as they are, or uint8 pixels through its pixel map (nn_pixel_table)."""
        if self.imported is not None:
            values = np.asarray(pixels)
            if values.dtype == np.uint8:
                return self.imported.pixel_table(self.input_params)[values]
            return values.astype(np.int8)
        centred = np.asarray(pixels, dtype=np.int64) - self.mean
        scaled = requantize(
            centred, self.input_multiplier, self.input_shift, single_rounding=self.single_rounding
        )
        return np.clip(scaled + self.input_params.zero_point, QMIN, QMAX).astype(np.int8)


def activation_range(params: TensorParams, upper: float | None) -> tuple[int, int]:
    """The int8 range a clamp at 0 (``upper`` None) or at 0 and N (``upper`` N) leaves:
    [zero point, 127] or [zero point, zero point + round(N / scale)] (capped at 127)."""
    low = max(params.zero_point, QMIN)
    if upper is not None:
        return low, int(min(QMAX, params.zero_point + round(upper / params.scale)))
    return low, QMAX
