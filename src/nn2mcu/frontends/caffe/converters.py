"""Caffe layer -> IR operator, one converter per supported Caffe layer type.

Converters read a layer's parameters (and the shapes of its inputs) and return the
IR operator's attributes; weights are converted separately (``blobs.py``). Layer
types the loader handles itself (data layers, Split, loss and accuracy heads) are
listed in ``loader.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.ir import Op, Shape
from nn2mcu.ops import (
    Add,
    BatchNorm,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Pool2D,
    PoolMethod,
    ReLU,
    Scale,
    Softmax,
)
from nn2mcu.ops._window import symmetric


@dataclass(frozen=True)
class LayerContext:
    """What a converter may look at: the layer, its file, its input shapes."""

    path: Path
    layer: caffe_pb2.LayerParameter
    input_shapes: Sequence[Shape]

    def error(self, message: str) -> InputError:
        return InputError(f"{self.path}: layer '{self.layer.name}' ({self.layer.type}): {message}")


Converter = Callable[[LayerContext], Op]
CONVERTERS: dict[str, Converter] = {}


def converts(caffe_type: str) -> Callable[[Converter], Converter]:
    def add(function: Converter) -> Converter:
        CONVERTERS[caffe_type] = function
        return function

    return add


def _repeated_pair(
    ctx: LayerContext, name: str, values: Sequence[int], default: int
) -> tuple[int, int]:
    if len(values) == 0:
        return (default, default)
    if len(values) == 1:
        return (int(values[0]), int(values[0]))
    if len(values) == 2:
        return (int(values[0]), int(values[1]))
    raise ctx.error(f"{name} has {len(values)} values; only 2-D (1 or 2 values) is supported")


def _hw_pair(
    ctx: LayerContext, param: object, name: str, fallback: tuple[int, int]
) -> tuple[int, int]:
    """Use ``<name>_h``/``<name>_w`` when given (both must be), else ``fallback``."""
    has_h = param.HasField(f"{name}_h")  # type: ignore[attr-defined]
    has_w = param.HasField(f"{name}_w")  # type: ignore[attr-defined]
    if has_h != has_w:
        raise ctx.error(f"give both {name}_h and {name}_w, or neither")
    if has_h:
        return (int(getattr(param, f"{name}_h")), int(getattr(param, f"{name}_w")))
    return fallback


def _positive(ctx: LayerContext, name: str, pair: tuple[int, int]) -> tuple[int, int]:
    if min(pair) < 1:
        raise ctx.error(f"{name} must be at least 1, got {pair[0]}x{pair[1]}")
    return pair


@converts("Convolution")
def convolution(ctx: LayerContext) -> Op:
    param = ctx.layer.convolution_param
    if param.num_output < 1:
        raise ctx.error("num_output must be set and positive")
    if param.axis != 1:
        raise ctx.error(f"axis {param.axis} is not supported (only 1, the channel axis)")
    if any(d != 1 for d in param.dilation):
        raise ctx.error(f"dilation {list(param.dilation)} is not supported (only 1)")
    if (param.HasField("kernel_h") or param.HasField("kernel_w")) and len(param.kernel_size):
        raise ctx.error("give kernel_size or kernel_h/kernel_w, not both")
    kernel = _hw_pair(
        ctx, param, "kernel", _repeated_pair(ctx, "kernel_size", param.kernel_size, 0)
    )
    kernel = _positive(ctx, "kernel size", kernel)
    pad = symmetric(_hw_pair(ctx, param, "pad", _repeated_pair(ctx, "pad", param.pad, 0)))
    stride = _positive(
        ctx,
        "stride",
        _hw_pair(ctx, param, "stride", _repeated_pair(ctx, "stride", param.stride, 1)),
    )
    channels = ctx.input_shapes[0].c
    group = int(param.group)
    if group == 1:
        return Conv2D(
            out_channels=int(param.num_output),
            kernel=kernel,
            stride=stride,
            pad=pad,
            bias=bool(param.bias_term),
        )
    if group == channels and param.num_output % channels == 0:
        return DepthwiseConv2D(
            kernel=kernel, stride=stride, pad=pad, bias=bool(param.bias_term),
            multiplier=int(param.num_output) // channels,
        )  # fmt: skip
    raise ctx.error(
        f"group {group} is not supported: group 1 is a convolution and group = input channels "
        f"a depthwise convolution with num_output a multiple of them (here {channels} input "
        f"channels, num_output {param.num_output})"
    )


@converts("Pooling")
def pooling(ctx: LayerContext) -> Op:
    param = ctx.layer.pooling_param
    methods = {
        caffe_pb2.PoolingParameter.MAX: PoolMethod.MAX,
        caffe_pb2.PoolingParameter.AVE: PoolMethod.AVE,
    }
    if param.pool not in methods:
        name = caffe_pb2.PoolingParameter.PoolMethod.Name(param.pool)
        raise ctx.error(f"pool {name} is not supported (MAX or AVE)")
    x = ctx.input_shapes[0]
    if param.global_pooling:
        if param.HasField("kernel_size") or param.HasField("kernel_h"):
            raise ctx.error("global_pooling takes no kernel size")
        kernel = (x.h, x.w)
        stride, pad = (1, 1), (0, 0)
        if param.pad or param.pad_h or param.pad_w or param.stride != 1:
            raise ctx.error("global_pooling requires pad 0 and stride 1")
    else:
        if param.HasField("kernel_size") and (
            param.HasField("kernel_h") or param.HasField("kernel_w")
        ):
            raise ctx.error("give kernel_size or kernel_h/kernel_w, not both")
        if not (param.HasField("kernel_size") or param.HasField("kernel_h")):
            raise ctx.error("kernel_size (or kernel_h and kernel_w) is required")
        square = int(param.kernel_size)
        kernel = _positive(ctx, "kernel size", _hw_pair(ctx, param, "kernel", (square, square)))
        pad = _hw_pair(ctx, param, "pad", (int(param.pad), int(param.pad)))
        stride = _positive(
            ctx, "stride", _hw_pair(ctx, param, "stride", (int(param.stride), int(param.stride)))
        )
    for axis, name in ((0, "y"), (1, "x")):
        if pad[axis] >= kernel[axis]:
            raise ctx.error(
                f"pad {pad[axis]} must be smaller than the kernel {kernel[axis]} ({name})"
            )
    return Pool2D(
        method=methods[param.pool],
        kernel=kernel,
        stride=stride,
        pad=symmetric(pad),
        ceil_mode=param.round_mode == caffe_pb2.PoolingParameter.CEIL,
    )


@converts("ReLU")
def relu(ctx: LayerContext) -> Op:
    slope = ctx.layer.relu_param.negative_slope
    if slope != 0:
        raise ctx.error(f"negative_slope {slope:g} (leaky ReLU) is not supported")
    return ReLU()


@converts("InnerProduct")
def inner_product(ctx: LayerContext) -> Op:
    param = ctx.layer.inner_product_param
    if param.num_output < 1:
        raise ctx.error("num_output must be set and positive")
    if param.axis != 1:
        raise ctx.error(f"axis {param.axis} is not supported (only 1)")
    return FullyConnected(out_features=int(param.num_output), bias=bool(param.bias_term))


@converts("Softmax")
def softmax(ctx: LayerContext) -> Op:
    axis = ctx.layer.softmax_param.axis
    if axis != 1:
        raise ctx.error(f"axis {axis} is not supported (only 1, the channel axis)")
    return Softmax()


@converts("Flatten")
def flatten(ctx: LayerContext) -> Op:
    param = ctx.layer.flatten_param
    if param.axis != 1 or param.end_axis != -1:
        raise ctx.error(
            f"axis {param.axis}, end_axis {param.end_axis} is not supported (only 1, -1)"
        )
    return Flatten()


@converts("Dropout")
def dropout(ctx: LayerContext) -> Op:
    ratio = float(ctx.layer.dropout_param.dropout_ratio)
    if not 0.0 <= ratio < 1.0:
        raise ctx.error(f"dropout_ratio must be in [0, 1), got {ratio:g}")
    return Dropout(ratio=ratio)


@converts("BatchNorm")
def batch_norm(ctx: LayerContext) -> Op:
    eps = float(ctx.layer.batch_norm_param.eps)
    if not eps > 0:
        raise ctx.error(f"eps must be positive, got {eps:g}")
    return BatchNorm(eps=eps)


@converts("Scale")
def scale(ctx: LayerContext) -> Op:
    param = ctx.layer.scale_param
    if param.axis != 1 or param.num_axes != 1:
        raise ctx.error(
            f"axis {param.axis}, num_axes {param.num_axes} is not supported "
            "(only a per-channel scale: 1, 1)"
        )
    return Scale(bias=bool(param.bias_term))


@converts("Eltwise")
def eltwise(ctx: LayerContext) -> Op:
    param = ctx.layer.eltwise_param
    if param.operation != caffe_pb2.EltwiseParameter.SUM:
        name = caffe_pb2.EltwiseParameter.EltwiseOp.Name(param.operation)
        raise ctx.error(f"operation {name} is not supported (only SUM)")
    if any(coefficient != 1 for coefficient in param.coeff):
        raise ctx.error(f"coeff {list(param.coeff)} is not supported (only a plain sum)")
    return Add()
