"""Headers for CMSIS-NN's own CIFAR-10 example (``--compat cmsis-cifar10-example``).

The example (CMSIS_5, CMSIS/NN/Examples/ARM/arm_nn_examples/cifar10, 2017 to 2021)
includes ``arm_nnexamples_cifar10_parameter.h`` and ``arm_nnexamples_cifar10_weights.h``
and calls a fixed sequence of kernels. It exists in two versions:

(a) until 2018-04-17: conv1 (_RGB) -> ReLU -> max pool, conv2 (_fast) -> ReLU -> average
    pool, conv3 (_fast) -> ReLU -> average pool, inner product (_opt), softmax; the input
    image is already quantized q7;
(b) from 2018-04-18: the same with max pools throughout, and the input preprocessed from
    uint8 RGB with a per-channel integer mean: q = SSAT8((((p - mean) << 7) +
    2^(shift - 1)) >> shift), where shift = INPUT_RIGHT_SHIFT = 7 - pixel_frac.

Both keep their activations in fixed buffers: ``scratch_buffer[40960]`` split into
img_buffer1 (offset 0: convolution outputs, the inner product's q15 vector) and
img_buffer2 (offset 32768: the preprocessed input in (b), pooling outputs), and
``col_buffer[3200]`` (im2col, the average pool's q15 row); softmax and the printout use 10
classes. A network matches a version when its layers are that sequence (ReLU and max
pooling may come in either order: they commute exactly) with the kernels the example calls,
and its tensors fit those buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nn2mcu.cgen import HEADER, c_values
from nn2mcu.codegen.lower import Call, Program
from nn2mcu.errors import InputError
from nn2mcu.ops import Conv2D, FullyConnected, Pool2D, PoolMethod, ReLU, Softmax
from nn2mcu.ops.fully_connected import x4_interleave
from nn2mcu.q7.model import Q7Model

COMPAT_NAME = "cmsis-cifar10-example"
PARAMETER_H = "arm_nnexamples_cifar10_parameter.h"
WEIGHTS_H = "arm_nnexamples_cifar10_weights.h"
SCRATCH_BYTES = 32 * 32 * 10 * 4
IMG_BUFFER2_OFFSET = 32 * 32 * 32
COL_BUFFER_BYTES = 2 * 5 * 5 * 32 * 2
CLASSES = 10
CONV_KERNELS = ("arm_convolve_HWC_q7_RGB", "arm_convolve_HWC_q7_fast", "arm_convolve_HWC_q7_fast")


@dataclass(frozen=True)
class Stage:
    """One conv -> ReLU -> pool stage of the example."""

    conv: Call
    relu: Call
    pool: Call


@dataclass(frozen=True)
class ExampleMatch:
    version: str  # "a" or "b"
    stages: tuple[Stage, Stage, Stage]
    ip: Call


class _Mismatch(Exception):
    def __init__(self, position: int, layer: str, expected: str) -> None:
        super().__init__(expected)
        self.position = position
        self.layer = layer
        self.expected = expected


def _q7_model(program: Program) -> Q7Model:
    if not isinstance(program.model, Q7Model):
        raise InputError("the CMSIS-NN CIFAR-10 example calls q7 kernels; the model is not q7")
    return program.model


def _describe(call: Call) -> str:
    op = call.layer.op
    if isinstance(op, Pool2D):
        return f"{op.method.name} pooling"
    return op.type_name


def _match(program: Program, pools: tuple[PoolMethod, PoolMethod, PoolMethod]) -> ExampleMatch:
    calls = program.calls
    position = 0

    def take(kind: type, expected: str) -> Call:
        nonlocal position
        if position >= len(calls):
            last = calls[-1].layer.name if calls else "(none)"
            raise _Mismatch(position, last, f"{expected} after it")
        call = calls[position]
        if not isinstance(call.layer.op, kind):
            raise _Mismatch(position, call.layer.name, f"{expected}, not {_describe(call)}")
        position += 1
        return call

    stages = []
    for index, (method, kernel) in enumerate(zip(pools, CONV_KERNELS, strict=True), 1):
        conv = take(Conv2D, f"convolution {index}")
        if conv.kernel.name != kernel:
            raise _Mismatch(
                position - 1,
                conv.layer.name,
                f"a convolution for {kernel}, not one for {conv.kernel.name} "
                f"({conv.kernel.reason})",
            )
        pool_name = f"{method.name} pooling"
        if (
            method is PoolMethod.MAX
            and position < len(calls)
            and isinstance(calls[position].layer.op, Pool2D)
        ):
            pool = take(Pool2D, pool_name)
            relu = take(ReLU, "ReLU")
        else:
            relu = take(ReLU, "ReLU")
            pool = take(Pool2D, pool_name)
        op = pool.layer.op
        assert isinstance(op, Pool2D)
        if op.method is not method:
            raise _Mismatch(position - 1, pool.layer.name, f"{pool_name}, not {_describe(pool)}")
        if op.kernel[0] != op.kernel[1] or op.stride[0] != op.stride[1] or op.pad[0] != op.pad[1]:
            raise _Mismatch(position - 1, pool.layer.name, "square pooling")
        stages.append(Stage(conv, relu, pool))
    ip = take(FullyConnected, "an inner product")
    if position < len(calls):
        take(Softmax, "softmax or nothing")
    if position < len(calls):
        raise _Mismatch(position, calls[position].layer.name, "nothing after the softmax")
    return ExampleMatch("", (stages[0], stages[1], stages[2]), ip)


VERSIONS = {
    "a": (PoolMethod.MAX, PoolMethod.AVE, PoolMethod.AVE),
    "b": (PoolMethod.MAX, PoolMethod.MAX, PoolMethod.MAX),
}


def match_example(program: Program) -> ExampleMatch:
    """The version of the example that ``program`` matches; InputError naming the first
    layer that matches neither, or the tensor that does not fit the example's buffers."""
    failures: list[tuple[str, _Mismatch]] = []
    for version, pools in VERSIONS.items():
        try:
            found = _match(program, pools)
        except _Mismatch as mismatch:
            failures.append((version, mismatch))
            continue
        match = ExampleMatch(version, found.stages, found.ip)
        _check_buffers(program, match)
        return match
    position = max(mismatch.position for _, mismatch in failures)
    at = [(version, m) for version, m in failures if m.position == position]
    expected = "; ".join(f"version ({version}) expects {m.expected}" for version, m in at)
    raise InputError(
        f"--compat {COMPAT_NAME}: layer '{at[0][1].layer}' matches neither version of "
        f"the example: {expected}"
    )


def _check_buffers(program: Program, match: ExampleMatch) -> None:
    graph = program.model.graph
    img_buffer2 = SCRATCH_BYTES - IMG_BUFFER2_OFFSET

    def fits(layer: str, what: str, size: int, room: int, buffer: str) -> None:
        if size > room:
            raise InputError(
                f"--compat {COMPAT_NAME}: layer '{layer}': {what} needs {size} bytes, the "
                f"example's {buffer} holds {room}"
            )

    if match.version == "b":
        shape = graph.shapes[program.input_buffer]
        fits(program.input_buffer, "the input", shape.size, img_buffer2, "img_buffer2")
    for stage in match.stages:
        conv, pool = stage.conv, stage.pool
        fits(
            conv.layer.name, "the output", graph.shapes[conv.layer.name].size,
            IMG_BUFFER2_OFFSET, "img_buffer1",
        )  # fmt: skip
        x = graph.input_shapes(conv.layer)[0]
        op = conv.layer.op
        assert isinstance(op, Conv2D)
        fits(
            conv.layer.name, "im2col", 4 * x.c * op.kernel[0] * op.kernel[1],
            COL_BUFFER_BYTES, "col_buffer",
        )  # fmt: skip
        fits(
            pool.layer.name, "the output", graph.shapes[pool.layer.name].size,
            img_buffer2, "img_buffer2",
        )  # fmt: skip
        if pool.scratch is not None:
            fits(
                pool.layer.name, "the q15 row", program.buffers[pool.scratch].size,
                COL_BUFFER_BYTES, "col_buffer",
            )  # fmt: skip
    x = graph.input_shapes(match.ip.layer)[0]
    fits(match.ip.layer.name, "the q15 vector", 2 * x.size, IMG_BUFFER2_OFFSET, "img_buffer1")
    outputs = graph.shapes[match.ip.layer.name].size
    if outputs != CLASSES:
        raise InputError(
            f"--compat {COMPAT_NAME}: layer '{match.ip.layer.name}' has {outputs} outputs; "
            f"the example's softmax and printout take {CLASSES}"
        )
    if match.version == "b":
        model = _q7_model(program)
        if model.mean.ndim != 1:
            raise InputError(
                f"--compat {COMPAT_NAME}: version (b) subtracts a per-channel mean, and this "
                "model has a per-pixel mean file; quantize with mean_value in the net's "
                "transform_param instead"
            )
        if model.mean.min() < 0 or model.mean.max() > 255:
            raise InputError(f"--compat {COMPAT_NAME}: mean {model.mean.tolist()} is not 0..255")
        if model.pixel_frac >= 7:
            raise InputError(
                f"--compat {COMPAT_NAME}: the input has {model.pixel_frac} fractional bits; "
                "version (b)'s preprocessing needs INPUT_RIGHT_SHIFT = 7 - frac >= 1"
            )


def _define(name: str, value: int | str) -> str:
    return f"#define {name} {value}\n"


def parameter_h(program: Program, match: ExampleMatch) -> str:
    graph = program.model.graph
    out = [
        HEADER,
        f"/* Dimensions in the macro names of CMSIS-NN's CIFAR-10 example, version "
        f"({match.version}). */\n",
        "#ifndef ARM_NNEXAMPLES_CIFAR10_PARAMETER_H\n",
        "#define ARM_NNEXAMPLES_CIFAR10_PARAMETER_H\n\n",
    ]
    for index, stage in enumerate(match.stages, 1):
        conv, pool = stage.conv.layer, stage.pool.layer
        assert isinstance(conv.op, Conv2D) and isinstance(pool.op, Pool2D)
        x, y = graph.input_shapes(conv)[0], graph.shapes[conv.name]
        out.append(f"/* {conv.name}: {stage.conv.kernel.name} */\n")
        for key, value in (
            ("IM_DIM", x.w), ("IM_CH", x.c), ("KER_DIM", conv.op.kernel[1]),
            ("PADDING", conv.op.pad[1]), ("STRIDE", conv.op.stride[1]), ("OUT_CH", y.c),
            ("OUT_DIM", y.w),
        ):  # fmt: skip
            out.append(_define(f"CONV{index}_{key}", value))
        out.append(f"\n/* {pool.name}: {stage.pool.kernel.name} */\n")
        for key, value in (
            ("KER_DIM", pool.op.kernel[1]), ("STRIDE", pool.op.stride[1]),
            ("PADDING", pool.op.pad[1]), ("OUT_DIM", graph.shapes[pool.name].w),
        ):  # fmt: skip
            out.append(_define(f"POOL{index}_{key}", value))
        out.append("\n")
    x = graph.input_shapes(match.ip.layer)[0]
    out.append(f"/* {match.ip.layer.name}: {match.ip.kernel.name} */\n")
    out.append(_define("IP1_DIM", f"({x.h} * {x.w} * {x.c})"))
    out.append(_define("IP1_IM_DIM", x.w))
    out.append(_define("IP1_IM_CH", x.c))
    out.append(_define("IP1_OUT", graph.shapes[match.ip.layer.name].size))
    out.append("\n#endif\n")
    return "".join(out)


def _initialiser(name: str, values: np.ndarray) -> str:
    return f"#define {name} {{{c_values(values.ravel(), per_line=1_000_000)}}}\n\n"


def weights_h(program: Program, match: ExampleMatch) -> str:
    model = _q7_model(program)
    out = [
        HEADER,
        f"/* Weights (initialiser lists), shifts and input preprocessing in the macro names "
        f"of CMSIS-NN's CIFAR-10 example, version ({match.version}). */\n",
        "#ifndef ARM_NNEXAMPLES_CIFAR10_WEIGHTS_H\n#define ARM_NNEXAMPLES_CIFAR10_WEIGHTS_H\n\n",
    ]
    if match.version == "b":
        shift = 7 - model.pixel_frac
        out.append(
            f"/* input: q = SSAT8((((p - mean) << 7) + (1 << (shift - 1))) >> shift), "
            f"{model.pixel_frac} fractional bits */\n"
        )
        out.append(_define("INPUT_MEAN_SHIFT", "{" + ",".join(map(str, model.mean)) + "}"))
        out.append(
            _define("INPUT_RIGHT_SHIFT", "{" + ",".join([str(shift)] * model.mean.size) + "}")
        )
        out.append("\n")
    else:
        out.append(
            f"/* input: already quantized q7 with {model.input_frac} fractional bits "
            "(nn_preprocess in nn.c computes it from uint8 pixels) */\n\n"
        )
    prefixed = [(f"CONV{i}", stage.conv) for i, stage in enumerate(match.stages, 1)]
    for prefix, call in [*prefixed, ("IP1", match.ip)]:
        layer = model.weighted[call.layer.name]
        weight = layer.weight
        if prefix == "IP1":
            weight = x4_interleave(weight)
        channels = model.graph.shapes[call.layer.name].c
        bias = layer.bias if layer.bias.size else np.zeros(channels, np.int64)
        out.append(f"/* {call.layer.name} */\n")
        out.append(_define(f"{prefix}_BIAS_LSHIFT", layer.shifts.bias_shift))
        out.append(_define(f"{prefix}_OUT_RSHIFT", layer.shifts.out_shift))
        out.append(_initialiser(f"{prefix}_WT", weight))
        out.append(_initialiser(f"{prefix}_BIAS", bias))
    out.append("#endif\n")
    return "".join(out)


def example_headers(program: Program) -> dict[str, str]:
    """The two headers, by file name, for the version ``program`` matches."""
    match = match_example(program)
    return {PARAMETER_H: parameter_h(program, match), WEIGHTS_H: weights_h(program, match)}
