"""The generated C project for an s8 model: CMSIS-NN's s8 API (v4 and later).

weights.h holds int8 weights (OHWI; depthwise [ky][kx][c]; inner product [out][in]) and
int32 biases, multipliers and shifts per output channel; parameter.h the dimensions, zero
points, activation ranges, scratch sizes and arena offsets; nn.c one file-scope const set
of cmsis_nn_* structs per call, so nn_run does nothing but call the kernels.
"""

from __future__ import annotations

from pathlib import Path

from nn2mcu.codegen.cgen import ALIGN, HEADER, c_array, c_macro, c_name
from nn2mcu.codegen.plan import Call, Program
from nn2mcu.errors import InputError
from nn2mcu.ops import Conv2D, DepthwiseConv2D, FullyConnected, Pool2D, ReLU, ReLU6, Softmax
from nn2mcu.s8.model import QMAX, QMIN, S8Model, activation_range
from nn2mcu.s8.softmax import softmax_params


def s8_model(program: Program) -> S8Model:
    if not isinstance(program.model, S8Model):
        raise TypeError("an s8 program was expected")
    return program.model


def weights_h(program: Program) -> str:
    model = s8_model(program)
    per = "per pixel (H x W x C)" if model.mean.ndim == 3 else "per channel"
    out = [HEADER, "#ifndef NN_WEIGHTS_H\n#define NN_WEIGHTS_H\n\n#include <stdint.h>\n", ALIGN]
    out.append(
        f"/* input preprocessing: M = floor(mean + 0.5), {per} */\n"
        + c_array("uint8_t", "nn_mean", model.mean)
        + "\n"
    )
    for call in program.calls:
        layer = model.weighted.get(call.layer.name)
        if layer is None:
            continue
        name = c_name(call.layer.name)
        if isinstance(call.layer.op, FullyConnected):
            note = "[out][in]"
        elif isinstance(call.layer.op, DepthwiseConv2D):
            note = "[ky][kx][c]"
        else:
            note = "OHWI: [out][ky][kx][in]"
        out.append(
            f"/* {call.layer.name}: int8 weights {note}, per output channel int32 bias, "
            "multiplier and shift */\n"
            + c_array("int8_t", f"{name}_wt", layer.weight)
            + c_array("int32_t", f"{name}_bias", layer.bias)
            + c_array("int32_t", f"{name}_multiplier", layer.multiplier)
            + c_array("int32_t", f"{name}_shift", layer.shift)
            + "\n"
        )
    out.append("#endif /* NN_WEIGHTS_H */\n")
    return "".join(out)


def _defines(program: Program, call: Call) -> dict[str, int]:
    model = s8_model(program)
    graph = model.graph
    layer, op = call.layer, call.layer.op
    x = graph.input_shapes(layer)[0]
    y = graph.shapes[layer.name]
    values = {"IN_X": x.w, "IN_Y": x.h, "IN_CH": x.c, "OUT_X": y.w, "OUT_Y": y.h, "OUT_CH": y.c}
    source = model.tensors[layer.inputs[0]]
    if isinstance(op, Conv2D | DepthwiseConv2D | Pool2D):
        values.update(
            KER_X=op.kernel[1], KER_Y=op.kernel[0], PAD_X=op.pad[1], PAD_Y=op.pad[0],
            STRIDE_X=op.stride[1], STRIDE_Y=op.stride[0],
        )  # fmt: skip
    if isinstance(op, FullyConnected):
        values.update(DIM_VEC=x.size, OUT_DIM=op.out_features)
    q = model.weighted.get(layer.name)
    if q is not None:
        values.update(
            INPUT_OFFSET=-source.zero_point,
            OUTPUT_OFFSET=model.tensors[layer.name].zero_point,
            ACT_MIN=q.activation[0],
            ACT_MAX=q.activation[1],
        )
    if isinstance(op, Pool2D):
        low, high = model.pool_activation.get(layer.name, (QMIN, QMAX))
        values.update(ACT_MIN=low, ACT_MAX=high)
    if isinstance(op, ReLU | ReLU6):
        low, high = activation_range(op, source)
        values.update(SIZE=y.size, ACT_MIN=low, ACT_MAX=high)
    if isinstance(op, Softmax):
        multiplier, shift, diff_min = softmax_params(source.scale)
        values.update(SIZE=y.size, MULT=multiplier, SHIFT=shift, DIFF_MIN=diff_min)
    if call.scratch is not None:
        values["SCRATCH_SIZE"] = program.buffers[call.scratch].size
    return values


def parameter_h(program: Program) -> str:
    model = s8_model(program)
    shape = model.graph.shapes[program.input_buffer]
    logits = model.graph.shapes[model.logits]
    zero_point = model.tensors[program.input_buffer].zero_point
    lines = [
        f"#define NN_INPUT_H {shape.h}",
        f"#define NN_INPUT_W {shape.w}",
        f"#define NN_INPUT_C {shape.c}",
        f"#define NN_INPUT_SIZE {shape.size}",
        f"#define NN_OUTPUT_SIZE {logits.size}",
        "/* input: q = clamp(requantize(p - M, multiplier, shift) + zero point, -128, 127) */",
        f"#define NN_INPUT_MULTIPLIER {model.input_multiplier}",
        f"#define NN_INPUT_SHIFT {model.input_shift}",
        f"#define NN_INPUT_ZERO_POINT {zero_point}",
        f"#define NN_ARENA_SIZE {program.arena_size}",
        f"#define NN_CALL_COUNT {len(program.calls)}",
        "",
    ]
    for call in program.calls:
        prefix = c_macro(call.layer.name)
        lines.append(f"/* {call.layer.name}: {call.kernel.name} ({call.kernel.reason}) */")
        lines += [
            f"#define {prefix}_{key} {value}" for key, value in _defines(program, call).items()
        ]
        lines.append("")
    lines.append("/* arena offsets (bytes) */")
    for buffer in sorted(program.buffers.values(), key=lambda b: (b.offset, b.name)):
        lines.append(
            f"#define {c_macro(buffer.name)}_OFFSET {buffer.offset} /* {buffer.size} bytes */"
        )
    macros = [line.split()[1] for line in lines if line.startswith("#define")]
    clashes = sorted({name for name in macros if macros.count(name) > 1})
    if clashes:
        raise InputError(f"layer names give the same C macro twice: {', '.join(clashes)}")
    return (
        HEADER
        + "#ifndef NN_PARAMETER_H\n#define NN_PARAMETER_H\n\n"
        + "\n".join(lines)
        + "\n\n#endif /* NN_PARAMETER_H */\n"
    )


def _dims(name: str, n: str, h: str, w: str, c: str) -> str:
    return f"static const cmsis_nn_dims {name} = {{.n = {n}, .h = {h}, .w = {w}, .c = {c}}};"


def _context(call: Call, name: str) -> str:
    if call.scratch is None:
        return f"static const cmsis_nn_context {name}_ctx = {{.buf = NULL, .size = 0}};"
    p = c_macro(call.layer.name)
    return (
        f"static const cmsis_nn_context {name}_ctx = "
        f"{{.buf = nn_arena + {c_macro(call.scratch)}_OFFSET, .size = {p}_SCRATCH_SIZE}};"
    )


def _structs(call: Call) -> list[str]:
    """The file-scope const structs of one call."""
    op, name, p = call.layer.op, c_name(call.layer.name), c_macro(call.layer.name)
    activation = f"{{.min = {p}_ACT_MIN, .max = {p}_ACT_MAX}}"
    tiles = (
        f".stride = {{.w = {p}_STRIDE_X, .h = {p}_STRIDE_Y}}, "
        f".padding = {{.w = {p}_PAD_X, .h = {p}_PAD_Y}}"
    )
    quant = (
        f"static const cmsis_nn_per_channel_quant_params {name}_quant = "
        f"{{.multiplier = (int32_t *){name}_multiplier, .shift = (int32_t *){name}_shift}};"
    )
    common = [
        _context(call, name),
        _dims(f"{name}_input_dims", "1", f"{p}_IN_Y", f"{p}_IN_X", f"{p}_IN_CH"),
        _dims(f"{name}_output_dims", "1", f"{p}_OUT_Y", f"{p}_OUT_X", f"{p}_OUT_CH"),
    ]
    offsets = f".input_offset = {p}_INPUT_OFFSET, .output_offset = {p}_OUTPUT_OFFSET"
    if isinstance(op, Conv2D):
        return [
            *common,
            f"static const cmsis_nn_conv_params {name}_params = {{{offsets}, {tiles}, "
            f".dilation = {{.w = 1, .h = 1}}, .activation = {activation}}};",
            quant,
            _dims(f"{name}_filter_dims", f"{p}_OUT_CH", f"{p}_KER_Y", f"{p}_KER_X", f"{p}_IN_CH"),
            _dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_CH"),
        ]
    if isinstance(op, DepthwiseConv2D):
        return [
            *common,
            f"static const cmsis_nn_dw_conv_params {name}_params = {{{offsets}, "
            f".ch_mult = {p}_OUT_CH / {p}_IN_CH, {tiles}, .dilation = {{.w = 1, .h = 1}}, "
            f".activation = {activation}}};",
            quant,
            _dims(f"{name}_filter_dims", "1", f"{p}_KER_Y", f"{p}_KER_X", f"{p}_OUT_CH"),
            _dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_CH"),
        ]
    if isinstance(op, FullyConnected):
        return [
            _context(call, name),
            _dims(f"{name}_input_dims", "1", "1", "1", f"{p}_DIM_VEC"),
            _dims(f"{name}_output_dims", "1", "1", "1", f"{p}_OUT_DIM"),
            f"static const cmsis_nn_fc_params {name}_params = {{.input_offset = "
            f"{p}_INPUT_OFFSET, .filter_offset = 0, .output_offset = {p}_OUTPUT_OFFSET, "
            f".activation = {activation}}};",
            quant,
            _dims(f"{name}_filter_dims", f"{p}_DIM_VEC", "1", "1", f"{p}_OUT_DIM"),
            _dims(f"{name}_bias_dims", "1", "1", "1", f"{p}_OUT_DIM"),
        ]
    if isinstance(op, Pool2D):
        return [
            *common,
            f"static const cmsis_nn_pool_params {name}_params = {{{tiles}, "
            f".activation = {activation}}};",
            _dims(f"{name}_filter_dims", "1", f"{p}_KER_Y", f"{p}_KER_X", "1"),
        ]
    return []


def _call(call: Call) -> str:
    op, name, p = call.layer.op, c_name(call.layer.name), c_macro(call.layer.name)
    src = f"nn_arena + {c_macro(call.input)}_OFFSET"
    dst = f"nn_arena + {c_macro(call.output)}_OFFSET"
    k = call.kernel.name
    if isinstance(op, Conv2D | DepthwiseConv2D | FullyConnected):
        return (
            f"{k}(&{name}_ctx, &{name}_params, &{name}_quant, &{name}_input_dims, {src}, "
            f"&{name}_filter_dims, {name}_wt, &{name}_bias_dims, {name}_bias, "
            f"&{name}_output_dims, {dst})"
        )
    if isinstance(op, Pool2D):
        return (
            f"{k}(&{name}_ctx, &{name}_params, &{name}_input_dims, {src}, &{name}_filter_dims, "
            f"&{name}_output_dims, {dst})"
        )
    if isinstance(op, Softmax):
        return f"{k}({src}, 1, {p}_SIZE, {p}_MULT, {p}_SHIFT, {p}_DIFF_MIN, {dst});"
    if isinstance(op, ReLU | ReLU6):
        return f"{k}({src}, {p}_SIZE, {p}_ACT_MIN, {p}_ACT_MAX);"
    raise InputError(f"layer '{call.layer.name}': no s8 call for {op.type_name}")


REQUANTIZE_DOUBLE = """/* arm_nn_requantize (CMSIS-NN v7.0.0, default two roundings), without
   undefined behaviour: (val << left) * multiplier, rounded high half, then a rounding
   right shift */
static int32_t nn_asr(int64_t value, int shift)
{
    return (int32_t)(value >= 0 ? value >> shift : ~((~value) >> shift));
}

static int32_t nn_wrap32(int64_t value)
{
    uint32_t bits = (uint32_t)(uint64_t)value;
    return bits < 0x80000000u ? (int32_t)bits : -(int32_t)(0xFFFFFFFFu - bits) - 1;
}

static int32_t nn_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t scaled = nn_wrap32((int64_t)value * ((int64_t)1 << left));
    int32_t high = nn_asr(scaled * multiplier + ((int64_t)1 << 30), 31);
    int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    int32_t remainder = high & mask;
    int32_t result = nn_asr(high, right);
    int32_t threshold = (mask >> 1) + (result < 0 ? 1 : 0);
    return result + (remainder > threshold ? 1 : 0);
}
"""

REQUANTIZE_SINGLE = """/* arm_nn_requantize with CMSIS_NN_USE_SINGLE_ROUNDING (CMSIS-NN v7.0.0) */
static int32_t nn_asr(int64_t value, int shift)
{
    return (int32_t)(value >= 0 ? value >> shift : ~((~value) >> shift));
}

static int32_t nn_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    int64_t product = (int64_t)value * multiplier;
    int32_t truncated = (int32_t)(uint32_t)(uint64_t)(product >= 0 ? product >> (30 - shift)
                                                      : ~((~product) >> (30 - shift)));
    return nn_asr((int64_t)truncated + 1, 1);
}
"""

RELU = """/* a ReLU or ReLU6 not fused into a kernel: a clamp to [low, high], in place */
static void nn_clamp_s8(int8_t *data, int32_t size, int32_t low, int32_t high)
{
    for (int32_t i = 0; i < size; i++) {
        data[i] = (int8_t)(data[i] < low ? low : (data[i] > high ? high : data[i]));
    }
}

"""


def nn_c(program: Program) -> str:
    from nn2mcu.codegen.emit import PROFILE_C

    model = s8_model(program)
    mean_index = "i" if model.mean.ndim == 3 else f"i % {model.mean.size}"
    structs, body = [], []
    for index, call in enumerate(program.calls, 1):
        lines = _structs(call)
        if lines:
            structs.append(f"/* {call.layer.name}: {call.kernel.name} */")
            structs += lines
            structs.append("")
        body.append(f"    /* {call.layer.name} */")
        body.append(f"    NN_MARK({index - 1});")
        statement = _call(call)
        if statement.endswith(")"):
            body.append(
                f"    if ({statement} != ARM_CMSIS_NN_SUCCESS) {{\n        return -{index};\n    }}"
            )
        else:
            body.append(f"    {statement}")
        size = model.graph.shapes[call.layer.name].size
        body.append(f"    NN_TRACE({index - 1}, nn_arena + {c_macro(call.output)}_OFFSET, {size});")
    relu = RELU if any(call.kernel.name == "nn_clamp_s8" for call in program.calls) else ""
    softmax = ""
    if program.softmax_buffer:
        softmax = (
            "\nvoid nn_probabilities(int8_t *probabilities)\n{\n"
            f"    memcpy(probabilities, nn_arena + {c_macro(program.softmax_buffer)}_OFFSET,\n"
            "           NN_OUTPUT_SIZE);\n}\n"
        )
    return (
        HEADER
        + '#include <stddef.h>\n#include <string.h>\n\n#include "nn.h"\n#include "weights.h"\n\n'
        + "static int8_t nn_arena[NN_ARENA_SIZE] NN_ALIGN4;\n\n"
        + "#ifdef NN_TRACE_LAYERS /* a build for nn2mcu verify --trace: every layer's output */\n"
        + "void nn_trace_layer(int call, const int8_t *data, int32_t size);\n"
        + "#define NN_TRACE(call, data, size) nn_trace_layer((call), (data), (size))\n"
        + "#else\n#define NN_TRACE(call, data, size) ((void)0)\n#endif\n\n"
        + PROFILE_C
        + (REQUANTIZE_SINGLE if model.single_rounding else REQUANTIZE_DOUBLE)
        + "\nvoid nn_preprocess(const uint8_t *pixels, int8_t *input)\n{\n"
        + "    for (int32_t i = 0; i < NN_INPUT_SIZE; i++) {\n"
        + f"        int32_t centred = (int32_t)pixels[i] - (int32_t)nn_mean[{mean_index}];\n"
        + "        int32_t q = nn_requantize(centred, NN_INPUT_MULTIPLIER, NN_INPUT_SHIFT) + "
        + "NN_INPUT_ZERO_POINT;\n"
        + "        input[i] = (int8_t)(q > 127 ? 127 : (q < -128 ? -128 : q));\n    }\n}\n\n"
        + relu
        + "\n".join(structs)
        + "\nint nn_run(const int8_t *input, int8_t *output)\n{\n"
        + f"    memcpy(nn_arena + {c_macro(program.input_buffer)}_OFFSET, input, NN_INPUT_SIZE);\n"
        + "\n".join(body)
        + f"\n    NN_MARK({len(program.calls)});"
        + f"\n    memcpy(output, nn_arena + {c_macro(program.logits_buffer)}_OFFSET,"
        + " NN_OUTPUT_SIZE);\n"
        + "    return 0;\n}\n"
        + softmax
    )


def check_cmsis_nn_root(root: str | None, program: Program) -> Path:
    """The CMSIS-NN tree named by CMSIS_NN_ROOT, checked for the s8 functions the program
    calls."""
    if not root:
        raise InputError(
            "--kernels cmsis for an s8 model needs CMSIS_NN_ROOT: a CMSIS-NN tree (v4+)"
        )
    header = Path(root) / "Include" / "arm_nnfunctions.h"
    if not header.is_file():
        raise InputError(f"CMSIS_NN_ROOT={root}: {header} not found")
    text = header.read_text(errors="replace")
    for call in program.calls:
        name = call.kernel.name
        if name.startswith("arm_") and name not in text:
            raise InputError(
                f"CMSIS_NN_ROOT={root}: {header} has no {name} (layer '{call.layer.name}'; "
                "arm_fully_connected_per_channel_s8 needs CMSIS-NN v7.0.0 or later)"
            )
    return Path(root)


NN_H_NOTE = "/* uint8 pixels (H x W x C, the data set's channel order) -> the s8 network input */"


def s8_files(program: Program, makefile: str) -> dict[str, str]:
    """weights.h, parameter.h, nn.h, nn.c, main.c and the Makefile of an s8 program."""
    from nn2mcu.codegen.emit import MAIN_C, NN_H

    model = s8_model(program)
    probabilities = (
        "\n/* the softmax layer's outputs of the last nn_run */\n"
        "void nn_probabilities(int8_t *probabilities);\n"
        if program.softmax_buffer
        else ""
    )
    nn_h = (NN_H % probabilities).replace("q7_t", "int8_t")
    nn_h = nn_h.replace(
        "/* uint8 pixels (H x W x C, the data set's channel order) -> the q7 network input */",
        NN_H_NOTE,
    )
    if model.single_rounding:
        makefile = (
            makefile.replace("$(CFLAGS)", "$(CFLAGS) $(DEFINES)")
            .replace("$(ARM_CFLAGS)", "$(ARM_CFLAGS) $(DEFINES)")
            .replace(
                "WARNINGS = ",
                "DEFINES = -DCMSIS_NN_USE_SINGLE_ROUNDING  # as the model was quantized\n"
                "WARNINGS = ",
                1,
            )
        )
    return {
        "weights.h": weights_h(program),
        "parameter.h": parameter_h(program),
        "nn.h": nn_h,
        "nn.c": nn_c(program),
        "main.c": MAIN_C.replace("q7_t", "int8_t"),
        "Makefile": makefile,
    }
