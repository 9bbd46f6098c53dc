"""The bit-exact s8 simulator: an S8Model run on uint8 images as CMSIS-NN's s8 kernels
(v7.0.0) run it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    ReLU,
    ReLU6,
    Softmax,
)
from nn2mcu.s8.arithmetic import IntArray, requantize
from nn2mcu.s8.model import QMAX, QMIN, S8Model, activation_range
from nn2mcu.s8.softmax import softmax_params


def quantize_input(model: S8Model, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    """q = clamp(requantize(p - M, input multiplier, input shift) + zero point, -128, 127)."""
    centred = np.asarray(pixels, dtype=np.int64) - model.mean
    zero_point = model.tensors[model.graph.layers[0].name].zero_point
    scaled = requantize(
        centred, model.input_multiplier, model.input_shift, single_rounding=model.single_rounding
    )
    return np.clip(scaled + zero_point, QMIN, QMAX).astype(np.int8)


def simulate(
    model: S8Model,
    pixels: npt.NDArray[np.uint8] | None = None,
    *,
    start: int = 0,
    known: dict[str, npt.NDArray[np.int8]] | None = None,
) -> dict[str, npt.NDArray[np.int8]]:
    """Every layer's int8 output for a batch of uint8 NHWC images (a Softmax layer runs
    arm_softmax_s8 with TFLite's parameters for its input scale and beta 1). With
    ``start`` > 0 the layers before that index are taken from ``known``."""
    values: dict[str, npt.NDArray[np.int8]] = {}
    for index, layer in enumerate(model.graph.layers):
        op = layer.op
        if index < start:
            if known is None:
                raise ValueError("start > 0 needs the earlier layers' outputs")
            values[layer.name] = known[layer.name]
            continue
        if isinstance(op, Input):
            if pixels is None:
                raise ValueError("the input layer needs pixels")
            values[layer.name] = quantize_input(model, pixels)
            continue
        x = values[layer.inputs[0]]
        source = model.tensors[layer.inputs[0]]
        params = model.tensors[layer.name]
        if isinstance(op, Conv2D | DepthwiseConv2D | FullyConnected):
            q = model.weighted[layer.name]
            values[layer.name] = op.s8_reference(
                x,
                q.weight,
                q.bias,
                input_offset=-source.zero_point,
                output_offset=params.zero_point,
                multiplier=q.multiplier,
                shift=q.shift,
                activation=q.activation,
                single_rounding=model.single_rounding,
            )
        elif isinstance(op, ReLU | ReLU6):
            if layer.name in model.fused:
                values[layer.name] = x
            else:
                low, high = activation_range(op, params)
                values[layer.name] = np.clip(x, low, high).astype(np.int8)
        elif isinstance(op, Pool2D):
            shape = model.graph.shapes[layer.name]
            activation = model.pool_activation.get(layer.name, (QMIN, QMAX))
            values[layer.name] = op.s8_reference(x, (shape.h, shape.w), activation)
        elif isinstance(op, Flatten):
            values[layer.name] = x.reshape(len(x), 1, 1, -1)
        elif isinstance(op, Softmax):
            multiplier, shift, diff_min = softmax_params(source.scale)
            values[layer.name] = op.s8_reference(x, multiplier, shift, diff_min)
        elif isinstance(op, Dropout):
            values[layer.name] = x
        else:
            raise ValueError(f"layer '{layer.name}' ({op.type_name}) has no s8 kernel")
    return values


def classify(model: S8Model, values: dict[str, npt.NDArray[np.int8]]) -> IntArray:
    logits = values[model.logits].reshape(len(values[model.logits]), -1)
    labels: IntArray = np.argmax(logits, axis=1).astype(np.int64)
    return labels
