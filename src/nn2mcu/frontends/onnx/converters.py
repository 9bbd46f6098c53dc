"""ONNX nodes -> IR layers, one function per ONNX operator.

A converter gets the node, its attributes, the constant tensors and the shape (HWC) of
its data input, and returns a Converted: a new layer (operator, weights in the NCHW
layouts ONNX uses), an alias (the node moves no data: Dropout, Identity), or a bias to
add to the inner product before it (Add after MatMul). A node it cannot map raises
Unsupported with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper

from nn2mcu.ir import Op, Shape
from nn2mcu.ops import (
    Add,
    BatchNorm,
    Conv2D,
    DepthwiseConv2D,
    Flatten,
    FullyConnected,
    Pad,
    Pool2D,
    PoolMethod,
    ReLU,
    ReLU6,
    Scale,
    Softmax,
)

Constants = Mapping[str, np.ndarray]


class Unsupported(Exception):
    """A node nn2mcu cannot map, with the reason."""


@dataclass
class Converted:
    ops: list[tuple[Op, dict[str, np.ndarray]]] = field(default_factory=list)  # in order
    alias: bool = False  # the output is the data input
    bias_for_matmul: np.ndarray | None = None
    all_inputs: bool = False  # the one op reads every data input, in order (an Add of two)


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constant(node: onnx.NodeProto, index: int, constants: Constants, what: str) -> np.ndarray:
    if index >= len(node.input) or not node.input[index]:
        raise Unsupported(f"it has no {what}")
    name = node.input[index]
    if name not in constants:
        raise Unsupported(f"its {what} '{name}' is not a constant")
    return np.asarray(constants[name])


def _optional(
    node: onnx.NodeProto, index: int, constants: Constants, what: str
) -> np.ndarray | None:
    if index >= len(node.input) or not node.input[index]:
        return None
    return _constant(node, index, constants, what)


def _window(
    node: onnx.NodeProto, attrs: dict[str, Any], kernel: tuple[int, int], x: Shape
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """(stride, pad) from strides, pads, auto_pad and dilations; pad is (top, left, bottom,
    right). SAME_UPPER puts the odd cell of padding at the end, SAME_LOWER at the start."""
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise Unsupported(f"dilations {list(attrs['dilations'])}: only 1 is supported")
    stride = tuple(int(s) for s in attrs.get("strides", [1, 1]))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s in zip((x.h, x.w), kernel, stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads.append((before, total - before))
        begin, end = [p[0] for p in pads], [p[1] for p in pads]
    elif auto_pad in ("NOTSET", "VALID"):
        values = (
            [int(p) for p in attrs.get("pads", [0, 0, 0, 0])] if auto_pad == "NOTSET" else [0] * 4
        )
        begin, end = values[:2], values[2:]
    else:
        raise Unsupported(f"auto_pad {auto_pad}")
    return (stride[0], stride[1]), (begin[0], begin[1], end[0], end[1])


def conv(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    weight = _constant(node, 1, constants, "weight")
    bias = _optional(node, 2, constants, "bias")
    if weight.ndim != 4:
        raise Unsupported(f"a {weight.ndim}-D weight: only 2-D convolutions are supported")
    out_channels, per_group, kh, kw = weight.shape
    group = int(attrs.get("group", 1))
    stride, pad = _window(node, attrs, (kh, kw), x)
    weights = {"weight": weight, **({"bias": bias} if bias is not None else {})}
    if group == 1:
        op: Op = Conv2D(
            out_channels=out_channels,
            kernel=(kh, kw),
            stride=stride,
            pad=pad,
            bias=bias is not None,
        )
    elif group == x.c and out_channels % x.c == 0 and per_group == 1:
        op = DepthwiseConv2D(
            kernel=(kh, kw), stride=stride, pad=pad, bias=bias is not None,
            multiplier=out_channels // x.c,
        )  # fmt: skip
    else:
        raise Unsupported(
            f"group {group} with {x.c} input and {out_channels} output channels: only "
            "ordinary (group 1) and depthwise (group = input channels, output channels a "
            "multiple of them) convolutions"
        )
    return Converted([(op, weights)])


def _pool(node: onnx.NodeProto, attrs: dict[str, Any], x: Shape, method: PoolMethod) -> Converted:
    kernel = tuple(int(k) for k in attrs["kernel_shape"])
    if len(kernel) != 2:
        raise Unsupported(f"kernel_shape {list(kernel)}: only 2-D pooling")
    stride, pad = _window(node, attrs, (kernel[0], kernel[1]), x)
    if int(attrs.get("storage_order", 0)) != 0:
        raise Unsupported("storage_order 1")
    if method is PoolMethod.AVE and any(pad) and not int(attrs.get("count_include_pad", 0)):
        raise Unsupported(
            "average pooling with padding that excludes the padding from the count "
            "(count_include_pad 0): nn2mcu's average pooling counts the padding, as Caffe's"
        )
    op = Pool2D(
        method=method,
        kernel=(kernel[0], kernel[1]),
        stride=stride,
        pad=pad,
        ceil_mode=bool(int(attrs.get("ceil_mode", 0))),
    )
    return Converted([(op, {})])


def max_pool(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("its Indices output is used")
    return _pool(node, attrs, x, PoolMethod.MAX)


def average_pool(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    return _pool(node, attrs, x, PoolMethod.AVE)


def global_average_pool(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    return Converted([(Pool2D(method=PoolMethod.AVE, kernel=(x.h, x.w), ceil_mode=False), {})])


def reduce_mean(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    """A mean over the spatial axes: global average pooling (as exporters write
    adaptive_avg_pool2d(x, 1))."""
    given = _optional(node, 1, constants, "axes")
    axes = [int(a) for a in (given if given is not None else attrs.get("axes", []))]
    if sorted(a % 4 for a in axes) != [2, 3]:
        raise Unsupported(f"axes {axes}: only the mean over H and W (axes 2, 3)")
    return global_average_pool(node, attrs, constants, x)


def relu(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    return Converted([(ReLU(), {})])


def clip(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    low = _optional(node, 1, constants, "min")
    high = _optional(node, 2, constants, "max")
    lo = float(low) if low is not None else float(attrs.get("min", -math.inf))
    hi = float(high) if high is not None else float(attrs.get("max", math.inf))
    if lo == 0.0 and hi == 6.0:
        return Converted([(ReLU6(), {})])
    if lo == 0.0 and hi == math.inf:
        return Converted([(ReLU(), {})])
    raise Unsupported(f"Clip({lo:g}, {hi:g}): only Clip(0, 6) (ReLU6) and Clip(0) (ReLU)")


def gemm(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    if int(attrs.get("transA", 0)) or float(attrs.get("alpha", 1.0)) != 1.0:
        raise Unsupported("transA or alpha != 1")
    weight = _constant(node, 1, constants, "weight")
    if not int(attrs.get("transB", 0)):
        weight = weight.T
    bias = _optional(node, 2, constants, "bias")
    if bias is not None and bias.size not in (1, weight.shape[0]):
        raise Unsupported(f"a bias of {bias.size} values for {weight.shape[0]} outputs")
    if bias is not None:
        bias = np.broadcast_to(bias * float(attrs.get("beta", 1.0)), (weight.shape[0],))
    if weight.shape[1] != x.size:
        raise Unsupported(f"a {weight.shape[1]}-column weight for {x.size} inputs")
    weights = {"weight": weight, **({"bias": np.array(bias)} if bias is not None else {})}
    return Converted(
        [(FullyConnected(out_features=weight.shape[0], bias=bias is not None), weights)]
    )


def matmul(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    weight = _constant(node, 1, constants, "weight")
    if weight.ndim != 2 or weight.shape[0] != x.size:
        raise Unsupported(f"a weight of shape {list(weight.shape)} for {x.size} inputs")
    return Converted(
        [(FullyConnected(out_features=weight.shape[1], bias=False), {"weight": weight.T})]
    )


def add(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    """The sum of two computed tensors of one shape (a residual shortcut), or the bias
    after a MatMul (checked by the loader)."""
    if all(name and name not in constants for name in node.input):
        return Converted([(Add(), {})], all_inputs=True)
    bias = _constant(node, 1, constants, "bias")
    return Converted(bias_for_matmul=np.asarray(bias, np.float32).reshape(-1))


def flatten(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    if int(attrs.get("axis", 1)) != 1:
        raise Unsupported(f"axis {attrs['axis']}: only axis 1 (keep the batch)")
    return Converted([(Flatten(), {})])


def reshape(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    target = [int(v) for v in _constant(node, 1, constants, "shape")]
    if len(target) == 2 and target[1] in (-1, x.size) and target[0] in (-1, 0, 1):
        return Converted([(Flatten(), {})])
    raise Unsupported(f"to {target}: only a flatten to (batch, {x.size}) before a classifier")


def softmax(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    axis = int(attrs.get("axis", -1))
    if not x.is_vector and axis not in (-1, 3):
        raise Unsupported(f"axis {axis} over a {x} tensor: only over a vector's elements")
    return Converted([(Softmax(), {})])


def batch_normalization(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    if len(node.output) > 1 and any(node.output[1:]):
        raise Unsupported("training-mode outputs are used")
    gamma = _constant(node, 1, constants, "scale")
    beta = _constant(node, 2, constants, "bias")
    mean = _constant(node, 3, constants, "mean")
    variance = _constant(node, 4, constants, "variance")
    eps = float(attrs.get("epsilon", 1e-5))
    return Converted(
        [
            (BatchNorm(eps=eps), {"mean": mean, "variance": variance}),
            (Scale(bias=True), {"scale": gamma, "bias": beta}),
        ]
    )


def pad(node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape) -> Converted:
    """Constant zeros on the spatial axes (folded into the next layer by passes.fold_pad)."""
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise Unsupported(f"mode {mode}: only constant (zero) padding")
    if "pads" in attrs:  # opset < 11
        pads, value = [int(p) for p in attrs["pads"]], float(attrs.get("value", 0.0))
    else:
        pads = [int(p) for p in _constant(node, 1, constants, "pads").reshape(-1)]
        fill = _optional(node, 2, constants, "constant_value")
        value = float(fill.reshape(-1)[0]) if fill is not None and fill.size else 0.0
        if _optional(node, 3, constants, "axes") is not None:
            raise Unsupported("axes: give the pads of all four axes")
    if value != 0.0:
        raise Unsupported(f"constant value {value:g}: only zeros")
    if len(pads) != 8 or any(p < 0 for p in pads):
        raise Unsupported(f"pads {pads}: four axes (N, C, H, W), none negative")
    if pads[0] or pads[1] or pads[4] or pads[5]:
        raise Unsupported(f"pads {pads}: only the spatial axes (H, W) may be padded")
    return Converted([(Pad(pad=(pads[2], pads[3], pads[6], pads[7])), {})])


def identity(
    node: onnx.NodeProto, attrs: dict[str, Any], constants: Constants, x: Shape
) -> Converted:
    return Converted(alias=True)


Converter = Callable[[onnx.NodeProto, dict[str, Any], Constants, Shape], Converted]

CONVERTERS: dict[str, Converter] = {
    "Conv": conv,
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "Relu": relu,
    "Clip": clip,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Flatten": flatten,
    "Reshape": reshape,
    "Softmax": softmax,
    "BatchNormalization": batch_normalization,
    "Pad": pad,
    "Dropout": identity,
    "Identity": identity,
}

__all__ = ["CONVERTERS", "Converted", "Unsupported", "attributes"]
