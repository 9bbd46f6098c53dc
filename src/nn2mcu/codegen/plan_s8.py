"""Lowering an s8 model: CMSIS-NN's s8 functions (v4 and later) and their scratch sizes.

Each scratch buffer is the larger of the generic and the DSP rule of the function's
*_get_buffer_size in CMSIS-NN v7.0.0, so one plan serves every Cortex-M build and the host;
the MVE (Helium) rules are not covered. A ReLU fused into the layer before it moves no data;
any other ReLU or ReLU6 runs in place as nn_clamp_s8 in nn.c (a clamp to its range).
"""

from __future__ import annotations

from nn2mcu.codegen.plan import Kernel, Rules
from nn2mcu.errors import InputError
from nn2mcu.ir import Layer
from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    FullyConnected,
    Pool2D,
    PoolMethod,
    ReLU,
    ReLU6,
    Softmax,
)
from nn2mcu.s8.model import S8Model


def conv_variant(model: S8Model, layer: Layer) -> Kernel:
    """What arm_convolve_wrapper_s8 dispatches to, and why."""
    op = layer.op
    assert isinstance(op, Conv2D)
    x = model.graph.input_shapes(layer)[0]
    name = "arm_convolve_wrapper_s8"
    if op.kernel == (1, 1) and op.pad == (0, 0):
        if op.stride == (1, 1):
            return Kernel(name, "-> arm_convolve_1x1_s8_fast: 1x1, pad 0, stride 1")
        return Kernel(name, "-> arm_convolve_1x1_s8: 1x1, pad 0")
    if x.h == 1 and op.kernel[0] == 1 and (op.stride[1] * x.c) % 4 == 0:
        return Kernel(name, "-> arm_convolve_1_x_n_s8: input height 1, kernel 1 x N")
    return Kernel(name, "-> arm_convolve_s8: im2col and matrix multiplication")


def choose_kernel_s8(model: S8Model, layer: Layer) -> Kernel:
    op = layer.op
    if isinstance(op, Conv2D):
        return conv_variant(model, layer)
    if isinstance(op, DepthwiseConv2D):
        if op.kernel == (3, 3) and max(op.pad) <= 1:
            reason = "-> arm_depthwise_conv_3x3_s8: 3x3, pad <= 1"
        else:
            reason = "-> arm_depthwise_conv_s8_opt: channel multiplier 1"
        return Kernel("arm_depthwise_conv_wrapper_s8", reason)
    if isinstance(op, FullyConnected):
        return Kernel("arm_fully_connected_per_channel_s8", "inner product, per-channel scales")
    if isinstance(op, Pool2D):
        if op.method is PoolMethod.MAX:
            return Kernel("arm_max_pool_s8", "max pooling")
        return Kernel("arm_avgpool_s8", "average pooling (in-bounds count)")
    if isinstance(op, ReLU | ReLU6):
        return Kernel("nn_clamp_s8", "in place, not fused: a clamp to its int8 range (nn.c)")
    if isinstance(op, Softmax):
        return Kernel("arm_softmax_s8", "softmax (second output)")
    raise InputError(f"layer '{layer.name}' ({op.type_name}) has no s8 kernel")


def _align4(value: int) -> int:
    return (value + 3) & ~3


def scratch_size_s8(model: S8Model, layer: Layer) -> int:
    """The larger of the generic and DSP *_get_buffer_size results (CMSIS-NN v7.0.0)."""
    op = layer.op
    x = model.graph.input_shapes(layer)[0]
    if isinstance(op, Conv2D):
        if op.kernel == (1, 1) and op.pad == (0, 0):
            # arm_convolve_1x1_s8_fast's DSP rule asks 2 * ch_in int16 under Arm Compiler 6
            return 4 * x.c if op.stride == (1, 1) else 0
        columns = op.kernel[0] * op.kernel[1] * x.c
        return 2 * _align4(columns) * 2  # arm_convolve_s8 (and 1_x_n outside MVE)
    if isinstance(op, DepthwiseConv2D):
        if op.kernel == (3, 3) and max(op.pad) <= 1:
            return 0
        return x.c * op.kernel[0] * op.kernel[1] * 2  # arm_depthwise_conv_s8_opt, DSP
    if isinstance(op, Pool2D) and op.method is PoolMethod.AVE:
        return 4 * x.c  # arm_avgpool_s8, DSP
    return 0


def s8_rules(model: S8Model) -> Rules:
    def moves_no_data(layer: Layer) -> bool:
        return isinstance(layer.op, Dropout | Flatten) or layer.name in model.fused

    return Rules(
        lambda layer: choose_kernel_s8(model, layer),
        lambda layer: scratch_size_s8(model, layer),
        moves_no_data,
    )
