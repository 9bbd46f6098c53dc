"""A network quantized for CMSIS-NN's s8 kernels (TFLite's int8 scheme).

Activations are asymmetric int8: real = scale * (q - zero_point). Weights of convolutions,
depthwise convolutions and inner products are symmetric int8 per output channel
(scale_w[o] = max|w[o]| / 127); biases are int32 with scale s_in * scale_w[o]; each output
channel requantizes with the multiplier and shift of s_in * scale_w[o] / s_out. A ReLU
right after a weighted layer is fused into its activation range (act_min = the output
zero point) and its own layer passes values through; other ReLUs clamp at the zero
point. A ReLU right after a pooling layer is fused into the pool's activation range the
same way (max and average commute with the clamp), and a ReLU6 likewise with the upper
end zero point + round(6 / scale). Pooling, Dropout and Flatten keep their
input's parameters. Average pooling with padding is refused: arm_avgpool_s8 divides by the
in-bounds count, Caffe by a count that includes the padding.

Pixels p become q = clamp(requantize(p - M, input multiplier, input shift) + zero
point, -128, 127) with M = floor(mean + 0.5) and the multiplier of 2^scale_log2 / s_in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    ReLU,
    ReLU6,
    Softmax,
)
from nn2mcu.s8.arithmetic import IntArray, quantize_multiplier

WEIGHTED = (Conv2D, DepthwiseConv2D, FullyConnected)
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
class S8Model:
    graph: Graph  # float weights (the input scale folded in)
    mean: IntArray  # M: per pixel (H, W, C) or per channel (C,)
    scale_log2: int
    input_multiplier: int
    input_shift: int
    tensors: Mapping[str, TensorParams]  # every layer's output
    weighted: Mapping[str, S8Layer]
    fused: frozenset[str]  # ReLU layers folded into the layer before them
    logits: str = field(default="")
    # (act_min, act_max) of pooling layers whose following ReLU is folded into them
    pool_activation: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    single_rounding: bool = False  # CMSIS_NN_USE_SINGLE_ROUNDING


def activation_range(op: object, params: TensorParams) -> tuple[int, int]:
    """The int8 range a ReLU or ReLU6 leaves: [zero point, 127] or [zero point, zero point
    + round(6 / scale)] (capped at 127)."""
    low = max(params.zero_point, QMIN)
    if isinstance(op, ReLU6):
        return low, int(min(QMAX, params.zero_point + round(6.0 / params.scale)))
    return low, QMAX


def _weight_channels(op: object, weight: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """The weight as (output channel, everything else)."""
    if isinstance(op, DepthwiseConv2D):
        return weight.reshape(-1, weight.shape[-1]).T  # (1, KH, KW, C) -> (C, KH*KW)
    return weight.reshape(weight.shape[0], -1)


def build_model(
    graph: Graph,
    mean: IntArray,
    scale_log2: int,
    ranges: Mapping[str, tuple[float, float]],
    logits: str,
    *,
    single_rounding: bool = False,
    pow2: bool = False,
) -> S8Model:
    """Integer weights, biases, multipliers and shifts for the given real ranges of the
    input (key 'input') and of every weighted layer's output. With ``pow2`` every scale is
    a power of two, so every requantization multiplier is 2^30."""
    tensors: dict[str, TensorParams] = {}
    weighted: dict[str, S8Layer] = {}
    fused: set[str] = set()
    pool_activation: dict[str, tuple[int, int]] = {}
    readers: dict[str, list[str]] = {}
    for layer in graph.layers:
        for name in layer.inputs:
            readers.setdefault(name, []).append(layer.name)
    for layer in graph.layers:
        op = layer.op
        if isinstance(op, Input):
            tensors[layer.name] = TensorParams.from_range(*ranges["input"], pow2)
        elif isinstance(op, WEIGHTED):
            source = tensors[layer.inputs[0]]
            out = TensorParams.from_range(*ranges[layer.name], pow2)
            tensors[layer.name] = out
            weight = np.asarray(layer.weights["weight"], dtype=np.float64)
            per_channel = _weight_channels(op, weight)
            scales = np.maximum(np.abs(per_channel).max(axis=1), 1e-12) / 127.0
            if pow2:
                scales = np.array([_pow2_ceil(float(value)) for value in scales])
            if isinstance(op, DepthwiseConv2D):
                q_weight = np.clip(np.round(weight / scales), -127, 127)
            else:
                shape = (-1,) + (1,) * (weight.ndim - 1)
                q_weight = np.clip(np.round(weight / scales.reshape(shape)), -127, 127)
            bias = layer.weights.get("bias")
            channels = len(scales)
            real_bias = np.zeros(channels) if bias is None else np.asarray(bias, np.float64)
            q_bias = np.round(real_bias / (source.scale * scales))
            if np.abs(q_bias).max(initial=0) >= 2**31:
                raise InputError(f"layer '{layer.name}': a bias does not fit int32")
            pairs = [quantize_multiplier(source.scale * s / out.scale) for s in scales]
            follows = readers.get(layer.name, [])
            activation = (QMIN, QMAX)
            if len(follows) == 1 and isinstance(graph.layer(follows[0]).op, ReLU | ReLU6):
                fused.add(follows[0])
                activation = activation_range(graph.layer(follows[0]).op, out)
            weighted[layer.name] = S8Layer(
                q_weight.astype(np.int64),
                q_bias.astype(np.int64),
                scales,
                np.array([m for m, _ in pairs], dtype=np.int64),
                np.array([s for _, s in pairs], dtype=np.int64),
                activation,
            )
        elif isinstance(op, Pool2D):
            if op.method is PoolMethod.AVE and op.pad != (0, 0):
                raise InputError(
                    f"layer '{layer.name}': average pooling with pad {op.pad[0]} has no s8 "
                    "kernel (arm_avgpool_s8 divides by the in-bounds count, Caffe counts the "
                    "padding)"
                )
            tensors[layer.name] = tensors[layer.inputs[0]]
            follows = readers.get(layer.name, [])
            if len(follows) == 1 and isinstance(graph.layer(follows[0]).op, ReLU | ReLU6):
                fused.add(follows[0])
                pool_activation[layer.name] = activation_range(
                    graph.layer(follows[0]).op, tensors[layer.name]
                )
        elif isinstance(op, ReLU | ReLU6 | Dropout | Flatten):
            tensors[layer.name] = tensors[layer.inputs[0]]
        elif isinstance(op, Softmax):
            tensors[layer.name] = TensorParams(1 / 256, -128)  # TFLite's softmax output
        else:
            raise InputError(f"layer '{layer.name}' ({op.type_name}) has no s8 kernel")
    input_params = tensors[graph.layers[0].name]
    multiplier, shift = quantize_multiplier(2.0**scale_log2 / input_params.scale)
    return S8Model(graph, mean, scale_log2, multiplier, shift, tensors, weighted,
                   frozenset(fused), logits, pool_activation, single_rounding)  # fmt: skip
