"""Lowering a q7 model to kernel calls, and the static memory plan.

Every activation and scratch buffer lives in one arena; each is alive from the call
that writes it to the last call that reads it, and buffers whose lifetimes overlap get
disjoint byte ranges (greedy first fit, largest first, every offset 4-byte aligned).
arm_relu_q7 runs in place; Dropout and Flatten move no data and alias their input. An
_RGB convolution reads up to 3 bytes past its input, so that input gets 3 spare bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nn2mcu.errors import InputError
from nn2mcu.ir import Layer, Shape
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
    Softmax,
)
from nn2mcu.q7.model import Q7Model

if TYPE_CHECKING:
    from nn2mcu.s8.model import S8Model

UINT16_MAX = 65535
RGB_OVERREAD = 3


@dataclass(frozen=True)
class Kernel:
    name: str
    reason: str


def _is_square(x: Shape, op: Conv2D | DepthwiseConv2D) -> bool:
    """Whether the square (not _nonsquare) kernels apply: equal x and y in image, kernel,
    padding and stride."""
    return (
        x.h == x.w
        and op.kernel[0] == op.kernel[1]
        and op.pad[0] == op.pad[1]
        and op.stride[0] == op.stride[1]
    )


def choose_kernel(model: Q7Model, layer: Layer) -> Kernel:
    """The CMSIS-NN function for a layer, with the reason (the constraint that holds)."""
    op = layer.op
    x = model.graph.input_shapes(layer)[0]
    if isinstance(op, Conv2D):
        square = _is_square(x, op)
        fast = x.c % 4 == 0 and op.out_channels % 2 == 0
        if square and x.c == 3:
            return Kernel("arm_convolve_HWC_q7_RGB", "square, 3 input channels")
        if op.kernel == (1, 1) and op.pad == (0, 0) and op.stride == (1, 1) and fast:
            return Kernel(
                "arm_convolve_1x1_HWC_q7_fast_nonsquare",
                "1x1, pad 0, stride 1, ch_in % 4 = 0, ch_out % 2 = 0",
            )
        if square and fast:
            return Kernel("arm_convolve_HWC_q7_fast", "square, ch_in % 4 = 0, ch_out % 2 = 0")
        if not square and fast:
            return Kernel(
                "arm_convolve_HWC_q7_fast_nonsquare", "non-square, ch_in % 4 = 0, ch_out % 2 = 0"
            )
        if not square:
            return Kernel(
                "arm_convolve_HWC_q7_basic_nonsquare", "non-square, channels not fast-compatible"
            )
        return Kernel("arm_convolve_HWC_q7_basic", "square, channels not fast-compatible")
    if isinstance(op, DepthwiseConv2D):
        if x.c % 2:
            raise InputError(
                f"layer '{layer.name}': the q7 depthwise kernels need an even channel "
                f"count, got {x.c}"
            )
        square = _is_square(x, op)
        name = "arm_depthwise_separable_conv_HWC_q7" + ("" if square else "_nonsquare")
        return Kernel(name, "depthwise, ch_in = ch_out, even")
    if isinstance(op, FullyConnected):
        return Kernel("arm_fully_connected_q7_opt", "inner product (x4-interleaved weights)")
    if isinstance(op, ReLU):
        return Kernel("arm_relu_q7", "in place")
    if isinstance(op, Pool2D):
        if op.method is PoolMethod.MAX:
            return Kernel("arm_maxpool_q7_HWC", "max pooling")
        return Kernel("arm_avepool_q7_HWC", "average pooling")
    if isinstance(op, Softmax):
        return Kernel("arm_softmax_q7", "softmax (second output)")
    raise InputError(f"layer '{layer.name}' ({op.type_name}) has no q7 kernel")


@dataclass
class Buffer:
    name: str
    size: int
    first: int  # index of the call that writes it
    last: int  # index of the last call that reads it
    offset: int = -1


@dataclass
class Call:
    layer: Layer
    kernel: Kernel
    input: str  # buffer names
    output: str
    scratch: str | None = None


@dataclass
class Program:
    model: Q7Model | S8Model
    calls: list[Call]
    buffers: dict[str, Buffer]
    input_buffer: str
    logits_buffer: str
    softmax_buffer: str | None
    arena_size: int = 0
    alias: dict[str, str] = field(default_factory=dict)


def scratch_size(model: Q7Model, layer: Layer) -> int:
    op = layer.op
    x = model.graph.input_shapes(layer)[0]
    if isinstance(op, Conv2D | DepthwiseConv2D):
        return 4 * x.c * op.kernel[0] * op.kernel[1]  # 2 * ch_in * kx * ky q15 values
    if isinstance(op, FullyConnected):
        return 2 * x.size
    if isinstance(op, Pool2D) and op.method is PoolMethod.AVE:
        return 2 * model.graph.shapes[layer.name].w * x.c
    return 0


@dataclass(frozen=True)
class Rules:
    """What lowering needs to know of a scheme."""

    choose_kernel: Callable[[Layer], Kernel]
    scratch_size: Callable[[Layer], int]
    moves_no_data: Callable[[Layer], bool]  # aliases its input (Dropout, Flatten, ...)


def q7_model(program: Program) -> Q7Model:
    if not isinstance(program.model, Q7Model):
        raise TypeError("a q7 program was expected")
    return program.model


def lower(model: Q7Model | S8Model) -> Program:
    """The kernel calls and the memory plan of a quantized model (either scheme)."""
    if isinstance(model, Q7Model):
        rules = Rules(
            lambda layer: choose_kernel(model, layer),
            lambda layer: scratch_size(model, layer),
            lambda layer: isinstance(layer.op, Dropout | Flatten),
        )
    else:
        from nn2mcu.codegen.plan_s8 import s8_rules

        rules = s8_rules(model)
    return _lower(model, rules)


def _lower(model: Q7Model | S8Model, rules: Rules) -> Program:
    graph = model.graph
    buffers: dict[str, Buffer] = {}
    calls: list[Call] = []
    tensor_of: dict[str, str] = {}  # layer -> buffer holding its output
    input_name = next(layer.name for layer in graph.layers if isinstance(layer.op, Input))
    buffers[input_name] = Buffer(input_name, graph.shapes[input_name].size, -1, -1)
    tensor_of[input_name] = input_name
    softmax_buffer = None
    for layer in graph.layers:
        if isinstance(layer.op, Input):
            continue
        source = tensor_of[layer.inputs[0]]
        if rules.moves_no_data(layer):
            tensor_of[layer.name] = source
            continue
        kernel = rules.choose_kernel(layer)
        index = len(calls)
        # The legacy API passes every dimension as uint16 (checked per argument when the
        # call is emitted); arm_softmax_q7 takes the vector length, and ReLU calls are split.
        too_long = graph.shapes[layer.name].size > UINT16_MAX
        if isinstance(model, Q7Model) and isinstance(layer.op, Softmax) and too_long:
            raise InputError(
                f"layer '{layer.name}': {graph.shapes[layer.name].size} elements exceed "
                "arm_softmax_q7's uint16 length"
            )
        buffers[source].last = index
        if isinstance(layer.op, ReLU):
            tensor_of[layer.name] = source
            calls.append(Call(layer, kernel, source, source))
            continue
        output = layer.name
        buffers[output] = Buffer(output, graph.shapes[layer.name].size, index, index)
        scratch = None
        size = rules.scratch_size(layer)
        if size:
            scratch = f"{layer.name}_scratch"
            buffers[scratch] = Buffer(scratch, size, index, index)
        if kernel.name.endswith("_RGB"):
            buffers[source].size = max(
                buffers[source].size, graph.input_shapes(layer)[0].size + RGB_OVERREAD
            )
        if isinstance(layer.op, Softmax):
            softmax_buffer = output
        tensor_of[layer.name] = output
        calls.append(Call(layer, kernel, source, output, scratch))
    logits = tensor_of[model.logits]
    for name in (logits, softmax_buffer):
        if name is not None:
            buffers[name].last = len(calls)  # read by the copy to the caller's output
    buffers[input_name].first = -1
    program = Program(model, calls, buffers, input_name, logits, softmax_buffer)
    program.arena_size = _place(list(buffers.values()))
    return program


def _align4(offset: int) -> int:
    return (offset + 3) & ~3


def _place(buffers: list[Buffer]) -> int:
    """Offsets for the buffers, each 4-byte aligned (q15 scratch and word loads need it)."""
    placed: list[Buffer] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        offset = 0
        overlapping = sorted(
            (
                other
                for other in placed
                if other.first <= buffer.last and buffer.first <= other.last
            ),
            key=lambda other: other.offset,
        )
        for other in overlapping:
            if offset + buffer.size <= other.offset:
                break
            offset = max(offset, _align4(other.offset + other.size))
        buffer.offset = offset
        placed.append(buffer)
    return max((b.offset + b.size for b in buffers), default=0)


def weight_bytes(program: Program) -> int:
    """Bytes of the weight and bias arrays (a layer without biases gets zeros); for s8 also
    the int32 biases, multipliers and shifts."""
    model = program.model
    if not isinstance(model, Q7Model):
        return sum(
            layer.weight.size + 4 * (layer.bias.size + layer.multiplier.size + layer.shift.size)
            for layer in model.weighted.values()
        )
    return sum(
        layer.weight.size + (layer.bias.size or model.graph.shapes[name].c)
        for name, layer in model.weighted.items()
    )


def flash_bytes(program: Program) -> int:
    """Bytes of constant data the generated code puts in flash: the weight and bias arrays
    and the input mean (which a compiler may fold into the code when it is per channel)."""
    return weight_bytes(program) + program.model.mean.size
