"""One converter per TFLite builtin: the IR layer it becomes and the integers TFLM derives
for it (``derive``). Each converter gets the operator and the conversion state and adds at
most one layer; a converter that returns a reason instead refuses the node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nn2mcu.frontends.tflite import derive
from nn2mcu.frontends.tflite.reader import Operator, Tensor, TfliteModel
from nn2mcu.ir import Layer
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.add import Add
from nn2mcu.ops.conv2d import Conv2D
from nn2mcu.ops.depthwise_conv2d import DepthwiseConv2D
from nn2mcu.ops.flatten import Flatten
from nn2mcu.ops.fully_connected import FullyConnected
from nn2mcu.ops.mean import Mean
from nn2mcu.ops.pad import Pad
from nn2mcu.ops.pool2d import Pool2D, PoolMethod
from nn2mcu.ops.softmax import Softmax
from nn2mcu.s8.model import S8Layer, TensorParams

SAME, VALID = 0, 1  # tflite.Padding


class Refused(Exception):
    """A node nn2mcu does not take, with the reason."""


@dataclass
class State:
    model: TfliteModel
    layers: list[Layer] = field(default_factory=list)
    tensors: dict[str, TensorParams] = field(default_factory=dict)
    weighted: dict[str, S8Layer] = field(default_factory=dict)
    activations: dict[str, tuple[int, int]] = field(default_factory=dict)  # pooling, add
    producer: dict[int, str] = field(default_factory=dict)  # TFLite tensor -> layer name
    origin: dict[str, int] = field(default_factory=dict)  # layer name -> TFLite tensor
    constants: dict[int, np.ndarray] = field(default_factory=dict)  # folded shape arithmetic
    counts: dict[str, int] = field(default_factory=dict)

    def name(self, stem: str) -> str:
        self.counts[stem] = self.counts.get(stem, 0) + 1
        return f"{stem}{self.counts[stem]}"

    def tensor(self, index: int) -> Tensor:
        return self.model.tensors[index]

    def source(self, index: int) -> str:
        """The layer producing activation tensor ``index``."""
        if index not in self.producer:
            raise Refused(
                f"reads tensor '{self.tensor(index).name}', which no supported node makes"
            )
        return self.producer[index]

    def add(self, layer: Layer, output: Tensor) -> None:
        self.layers.append(layer)
        self.producer[output.index] = layer.name
        self.origin[layer.name] = output.index
        self.tensors[layer.name] = params(output)


def params(tensor: Tensor) -> TensorParams:
    if tensor.dtype != "int8" or not tensor.quantized:
        state = "" if tensor.quantized else ", not quantized"
        raise Refused(
            f"tensor '{tensor.name}' is {tensor.dtype}{state} (nn2mcu takes int8 activations)"
        )
    if tensor.scales.size != 1:
        raise Refused(f"activation tensor '{tensor.name}' has per-axis quantization")
    return TensorParams(tensor.scale, tensor.zero_point)


def hwc(tensor: Tensor) -> Shape:
    """The activation's HWC shape (batch 1): [1, H, W, C] or [1, N] (a vector)."""
    shape = tensor.shape
    if len(shape) == 4 and shape[0] == 1:
        return Shape(shape[1], shape[2], shape[3])
    if len(shape) == 2 and shape[0] == 1:
        return Shape.vector(shape[1])
    if len(shape) == 3 and shape[0] == 1:
        return Shape(1, shape[1], shape[2])
    raise Refused(
        f"tensor '{tensor.name}' has shape {list(shape)} (nn2mcu takes batch 1, rank 2 to 4)"
    )


def _options(op: Operator) -> Any:
    if op.options is None:
        raise Refused("its options are missing")
    return op.options


def _activation(options: Any, output: Tensor) -> tuple[int, int]:
    code = options.FusedActivationFunction()
    try:
        return derive.activation_range(code, output.scale, output.zero_point)
    except ValueError as error:
        raise Refused(f"{error} is not supported") from None


def _data(tensor: Tensor) -> np.ndarray:
    if tensor.data is None:
        raise Refused(f"'{tensor.name}' is not a constant")
    return tensor.data


def _constant(state: State, index: int, what: str) -> Tensor:
    tensor = state.tensor(index)
    if tensor.data is None:
        raise Refused(f"its {what} '{tensor.name}' is not a constant")
    return tensor


def _weights(
    state: State, op: Operator, axis: int, channels: int
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """The int8 filter, its per-channel scales (broadcast from one) and the int32 bias."""
    filt = _constant(state, op.inputs[1], "filter")
    if filt.dtype != "int8" or not filt.quantized:
        raise Refused(f"its filter '{filt.name}' is {filt.dtype} (nn2mcu takes int8 weights)")
    if np.any(filt.zero_points != 0):
        raise Refused(f"its filter '{filt.name}' has non-zero zero points")
    scales = filt.scales.astype(np.float64)
    if scales.size not in (1, channels):
        raise Refused(f"its filter has {scales.size} scales for {channels} channels")
    if scales.size > 1 and filt.quantized_dimension != axis:
        raise Refused(f"its filter is quantized along axis {filt.quantized_dimension}, not {axis}")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias_tensor = _constant(state, op.inputs[2], "bias")
        if bias_tensor.dtype != "int32":
            raise Refused(f"its bias '{bias_tensor.name}' is {bias_tensor.dtype}, not int32")
        bias = _data(bias_tensor).astype(np.int64).ravel()
    else:
        bias = np.zeros(channels, np.int64)
    return filt, np.broadcast_to(scales, (channels,)).copy(), bias


def _add_weighted(
    state: State, stem: str, op: Any, x_tensor: Tensor, out: Tensor, filt: Tensor,
    scales: np.ndarray, bias: np.ndarray, requantize: tuple[np.ndarray, np.ndarray],
    activation: tuple[int, int],
) -> None:  # fmt: skip
    """The layer of a convolution, depthwise convolution or fully connected node: its int8
    weights as they are, and float weights (int8 x scale, bias x s_in x scale) for the
    float reference; the filter's output channels lie on ``op.weight_channel_axis``."""
    name = state.name(stem)
    weight = _data(filt).astype(np.int64)
    shape = [1] * weight.ndim
    shape[op.weight_channel_axis] = -1
    floats = {
        "weight": weight.astype(np.float64) * scales.reshape(shape),
        "bias": bias.astype(np.float64) * params(x_tensor).scale * scales,
    }
    state.add(Layer(name, op, (state.source(x_tensor.index),), floats), out)
    multiplier, shift = requantize
    state.weighted[name] = S8Layer(weight, bias, scales, multiplier, shift, activation)


def _padding(
    options: Any, x: Shape, kernel: tuple[int, int], stride: tuple[int, int], out: Shape
) -> tuple[int, int, int, int]:
    code = options.Padding()
    if code == SAME:
        oh, top, bottom = derive.same_padding(x.h, kernel[0], stride[0])
        ow, left, right = derive.same_padding(x.w, kernel[1], stride[1])
    elif code == VALID:
        oh, top, bottom = derive.valid_output(x.h, kernel[0], stride[0]), 0, 0
        ow, left, right = derive.valid_output(x.w, kernel[1], stride[1]), 0, 0
    else:
        raise Refused(f"padding {code}")
    if (oh, ow) != (out.h, out.w):
        raise Refused(f"its output is {out.h}x{out.w}, its padding gives {oh}x{ow}")
    return top, left, bottom, right


def _dilation_one(options: Any) -> None:
    if options.DilationHFactor() != 1 or options.DilationWFactor() != 1:
        raise Refused(f"dilation {options.DilationHFactor()}x{options.DilationWFactor()} (only 1)")


def conv_2d(state: State, op: Operator) -> None:
    options = _options(op)
    _dilation_one(options)
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    x, y = hwc(x_tensor), hwc(out)
    source_params = params(x_tensor)
    filt = state.tensor(op.inputs[1])
    if len(filt.shape) != 4:
        raise Refused(f"its filter has shape {list(filt.shape)}")
    channels, kh, kw, depth = filt.shape
    if depth != x.c:
        raise Refused(f"grouped convolution ({x.c} input channels, filter depth {depth})")
    filt, scales, bias = _weights(state, op, 0, channels)
    stride = (options.StrideH(), options.StrideW())
    pad = _padding(options, x, (kh, kw), stride, y)
    out_params = params(out)
    multiplier, shift = derive.per_channel_multipliers(
        source_params.scale, filt.scales, out_params.scale, channels
    )
    op_ir = Conv2D(channels, (kh, kw), stride, pad, True)
    _add_weighted(state, "conv", op_ir, x_tensor, out, filt, scales, bias, (multiplier, shift),
                  _activation(options, out))  # fmt: skip


def depthwise_conv_2d(state: State, op: Operator) -> None:
    options = _options(op)
    _dilation_one(options)
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    x, y = hwc(x_tensor), hwc(out)
    source_params = params(x_tensor)
    filt = state.tensor(op.inputs[1])
    if len(filt.shape) != 4 or filt.shape[0] != 1:
        raise Refused(f"its filter has shape {list(filt.shape)}")
    _, kh, kw, channels = filt.shape
    if channels % x.c or channels != y.c:
        raise Refused(f"{channels} filters for {x.c} input and {y.c} output channels")
    filt, scales, bias = _weights(state, op, 3, channels)
    stride = (options.StrideH(), options.StrideW())
    pad = _padding(options, x, (kh, kw), stride, y)
    out_params = params(out)
    multiplier, shift = derive.per_channel_multipliers(
        source_params.scale, filt.scales, out_params.scale, channels
    )
    op_ir = DepthwiseConv2D((kh, kw), stride, pad, True, channels // x.c)
    _add_weighted(state, "dwconv", op_ir, x_tensor, out, filt, scales, bias, (multiplier, shift),
                  _activation(options, out))  # fmt: skip


def fully_connected(state: State, op: Operator) -> None:
    options = _options(op)
    if options.WeightsFormat() != 0:
        raise Refused("shuffled weights (weights_format SHUFFLED4x16INT8)")
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    source_params = params(x_tensor)
    filt = state.tensor(op.inputs[1])
    if len(filt.shape) != 2:
        raise Refused(f"its filter has shape {list(filt.shape)}")
    rows, columns = filt.shape
    x = hwc(x_tensor) if len(x_tensor.shape) != 2 else Shape.vector(x_tensor.shape[1])
    if x.size != columns or int(np.prod(x_tensor.shape)) != columns:
        raise Refused(
            f"its input {list(x_tensor.shape)} is not one row of {columns} values (batch 1)"
        )
    if int(np.prod(out.shape)) != rows:
        raise Refused(f"its output {list(out.shape)} is not {rows} values")
    filt, scales, bias = _weights(state, op, 0, rows)
    out_params = params(out)
    if filt.scales.size == 1:
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bias_tensor = state.tensor(op.inputs[2])
            if bias_tensor.quantized:
                error = derive.bias_scale_error(
                    source_params.scale, filt.scale, bias_tensor.scale, out_params.scale
                )
                if not error <= 0.02:
                    raise Refused(
                        f"its bias scale {bias_tensor.scale:.6g} differs from input scale x "
                        f"filter scale {source_params.scale * filt.scale:.6g} by {error:.3g} "
                        "output steps (TFLM requires <= 0.02)"
                    )
        m, s = derive.fully_connected_multiplier(source_params.scale, filt.scale, out_params.scale)
        multiplier, shift = np.full(rows, m, np.int64), np.full(rows, s, np.int64)
    else:
        multiplier, shift = derive.per_channel_multipliers(
            source_params.scale, filt.scales, out_params.scale, rows
        )
    _add_weighted(state, "fc", FullyConnected(rows, True), x_tensor, out, filt, scales, bias,
                  (multiplier, shift), _activation(options, out))  # fmt: skip


def add(state: State, op: Operator) -> None:
    options = _options(op)
    first, second, out = (state.tensor(i) for i in (*op.inputs[:2], op.outputs[0]))
    if first.shape != second.shape:
        raise Refused(f"broadcasting ADD ({list(first.shape)} + {list(second.shape)})")
    for tensor in (first, second):
        if tensor.data is not None:
            raise Refused(f"ADD of the constant '{tensor.name}'")
        params(tensor)
    name = state.name("add")
    layer = Layer(name, Add(), (state.source(first.index), state.source(second.index)))
    state.add(layer, out)
    state.activations[name] = _activation(options, out)


def _same_quantization(x: Tensor, out: Tensor, what: str) -> None:
    """pooling_common.cc: |s_in - s_out| <= 1e-6 (float) and equal zero points."""
    if not (
        abs(float(np.float32(x.scale) - np.float32(out.scale))) <= 1.0e-6
        and x.zero_point == out.zero_point
    ):
        raise Refused(
            f"{what} does not requantize: input scale {x.scale:.6g} zero point {x.zero_point}, "
            f"output {out.scale:.6g} {out.zero_point} must be equal"
        )


def _pool(method: PoolMethod) -> Callable[[State, Operator], None]:
    def convert(state: State, op: Operator) -> None:
        options = _options(op)
        x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
        x, y = hwc(x_tensor), hwc(out)
        params(x_tensor)
        _same_quantization(x_tensor, out, op.name)
        kernel = (options.FilterHeight(), options.FilterWidth())
        stride = (options.StrideH(), options.StrideW())
        pad = _padding(options, x, kernel, stride, y)
        name = state.name("avgpool" if method is PoolMethod.AVE else "maxpool")
        pool = Pool2D(method, kernel, stride, pad, ceil_mode=False, count_padding=False)
        state.add(Layer(name, pool, (state.source(x_tensor.index),)), out)
        state.activations[name] = _activation(options, out)

    return convert


def reshape(state: State, op: Operator) -> None:
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    params(x_tensor)
    _same_quantization(x_tensor, out, "RESHAPE")
    shape = out.shape
    if not (len(shape) == 2 and shape[0] == 1) or int(np.prod(x_tensor.shape)) != shape[1]:
        raise Refused(f"a reshape to {list(shape)} (nn2mcu takes a flatten to [1, N] only)")
    name = state.name("flatten")
    state.add(Layer(name, Flatten(), (state.source(x_tensor.index),)), out)


def softmax(state: State, op: Operator) -> None:
    options = _options(op)
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    params(x_tensor)
    out_params = params(out)
    if not hwc(x_tensor).is_vector:
        raise Refused(f"a softmax over a {list(x_tensor.shape)} tensor (nn2mcu takes a vector)")
    if out_params.zero_point != -128 or np.float32(out_params.scale) != np.float32(1.0 / 256):
        raise Refused(
            f"its output has scale {out_params.scale:.6g} and zero point {out_params.zero_point} "
            "(TFLM requires 1/256 and -128)"
        )
    name = state.name("softmax")
    state.add(
        Layer(name, Softmax(float(np.float32(options.Beta()))), (state.source(x_tensor.index),)),
        out,
    )


def mean(state: State, op: Operator) -> None:
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    axes = sorted(int(a) % 4 for a in _data(_constant(state, op.inputs[1], "axis")).ravel())
    if len(x_tensor.shape) != 4 or axes != [1, 2]:
        raise Refused(f"a mean over axes {axes} of {list(x_tensor.shape)} (nn2mcu: H and W)")
    params(x_tensor)
    if hwc(out).size != x_tensor.shape[3]:
        raise Refused(f"its output {list(out.shape)} is not one value per channel")
    name = state.name("mean")
    state.add(Layer(name, Mean(), (state.source(x_tensor.index),)), out)


def pad(state: State, op: Operator) -> None:
    x_tensor, out = state.tensor(op.inputs[0]), state.tensor(op.outputs[0])
    params(x_tensor)
    _same_quantization(x_tensor, out, op.name)
    paddings = _data(_constant(state, op.inputs[1], "paddings")).astype(np.int64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = _data(_constant(state, op.inputs[2], "constant value")).ravel()
        if value.size != 1 or int(value[0]) != x_tensor.zero_point:
            raise Refused("it pads with a value other than zero (the zero point)")
    if paddings.shape != (4, 2) or paddings[0].any() or paddings[3].any():
        raise Refused(f"paddings {paddings.tolist()} (nn2mcu pads H and W only)")
    (top, bottom), (left, right) = paddings[1], paddings[2]
    name = state.name("pad")
    layer = Layer(
        name, Pad((int(top), int(left), int(bottom), int(right))), (state.source(x_tensor.index),)
    )
    state.add(layer, out)


CONVERTERS: dict[str, Callable[[State, Operator], None]] = {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "FULLY_CONNECTED": fully_connected,
    "ADD": add,
    "AVERAGE_POOL_2D": _pool(PoolMethod.AVE),
    "MAX_POOL_2D": _pool(PoolMethod.MAX),
    "RESHAPE": reshape,
    "SOFTMAX": softmax,
    "MEAN": mean,
    "PAD": pad,
    "PADV2": pad,
}
