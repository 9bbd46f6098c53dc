"""The generated C project: weights.h, parameter.h, nn.h, nn.c, main.c, Makefile.

Generation is deterministic to the byte. Kernel calls name CMSIS-NN's functions; the
project builds against the portable kernels copied into kernels/ or against CMSIS.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from nn2mcu.codegen.cgen import ALIGN, HEADER, c_array, c_macro, c_name, c_values
from nn2mcu.codegen.cifar10_example import COMPAT_NAME, example_headers
from nn2mcu.codegen.emit_s8 import s8_files
from nn2mcu.codegen.plan import Call, Program, q7_model
from nn2mcu.errors import InputError
from nn2mcu.ops import Conv2D, DepthwiseConv2D, FullyConnected, Pool2D, ReLU, Softmax
from nn2mcu.ops.fully_connected import x4_interleave
from nn2mcu.q7.formats import q_format
from nn2mcu.s8.model import S8Model

KERNELS = Path(__file__).resolve().parent.parent / "kernels" / "q7"
KERNELS_S8 = KERNELS.parent / "s8"
TARGET = Path(__file__).resolve().parent.parent / "targets" / "mps2"
UINT16_MAX = 65535


def _check_names(program: Program) -> None:
    seen: dict[str, str] = {}
    for call in program.calls:
        ident = c_name(call.layer.name)
        if ident in seen and seen[ident] != call.layer.name:
            raise InputError(
                f"layers '{seen[ident]}' and '{call.layer.name}' both become the C name '{ident}'"
            )
        seen[ident] = call.layer.name


def weights_h(program: Program) -> str:
    model = q7_model(program)
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
        weight = layer.weight
        if isinstance(call.layer.op, FullyConnected):
            weight = x4_interleave(weight)
            note = "x4-interleaved rows (arm_fully_connected_q7_opt)"
        elif isinstance(call.layer.op, DepthwiseConv2D):
            note = "[ky][kx][c]"
        else:
            note = "OHWI: [out][ky][kx][in]"
        channels = model.graph.shapes[call.layer.name].c  # a vector is 1 x 1 x N
        bias = layer.bias if layer.bias.size else np.zeros(channels, np.int64)
        out.append(
            f"/* {call.layer.name}: weights {note}, {q_format(layer.formats.w_frac)} */\n"
            + c_array("q7_t", f"{name}_wt", weight)
            + c_array("q7_t", f"{name}_bias", bias)
            + "\n"
        )
    out.append("#endif /* NN_WEIGHTS_H */\n")
    return "".join(out)


def _dims(program: Program, call: Call) -> dict[str, int]:
    graph = program.model.graph
    x = graph.input_shapes(call.layer)[0]
    y = graph.shapes[call.layer.name]
    dims = {"IN_X": x.w, "IN_Y": x.h, "IN_CH": x.c, "OUT_X": y.w, "OUT_Y": y.h, "OUT_CH": y.c}
    op = call.layer.op
    if isinstance(op, Conv2D | DepthwiseConv2D | Pool2D):
        dims.update(
            KER_X=op.kernel[1], KER_Y=op.kernel[0], PAD_X=op.pad[1], PAD_Y=op.pad[0],
            STRIDE_X=op.stride[1], STRIDE_Y=op.stride[0],
        )  # fmt: skip
    if isinstance(op, FullyConnected):
        dims.update(DIM_VEC=x.size, OUT_DIM=op.out_features)
    q = q7_model(program).weighted.get(call.layer.name)
    if q is not None:
        dims.update(BIAS_LSHIFT=q.shifts.bias_shift, OUT_RSHIFT=q.shifts.out_shift)
    for key, value in dims.items():
        if value > UINT16_MAX:
            raise InputError(
                f"layer '{call.layer.name}': {key} {value} exceeds the legacy API's uint16"
            )
    return dims


def parameter_h(program: Program) -> str:
    model = q7_model(program)
    shape = model.graph.shapes[program.input_buffer]
    out = [HEADER, "#ifndef NN_PARAMETER_H\n#define NN_PARAMETER_H\n\n"]
    logits = model.graph.shapes[model.logits]
    out.append(
        f"#define NN_INPUT_H {shape.h}\n#define NN_INPUT_W {shape.w}\n"
        f"#define NN_INPUT_C {shape.c}\n"
        f"#define NN_INPUT_SIZE {shape.size}\n#define NN_OUTPUT_SIZE {logits.size}\n"
        f"#define NN_INPUT_PIXEL_FRAC {model.pixel_frac}\n"
        f"#define NN_ARENA_SIZE {program.arena_size}\n"
        f"#define NN_CALL_COUNT {len(program.calls)}\n\n"
    )
    for call in program.calls:
        prefix = c_macro(call.layer.name)
        out.append(f"/* {call.layer.name}: {call.kernel.name} ({call.kernel.reason}) */\n")
        for key, value in _dims(program, call).items():
            out.append(f"#define {prefix}_{key} {value}\n")
        out.append("\n")
    out.append("/* arena offsets (bytes) */\n")
    for buffer in sorted(program.buffers.values(), key=lambda b: (b.offset, b.name)):
        out.append(
            f"#define {c_macro(buffer.name)}_OFFSET {buffer.offset} /* {buffer.size} bytes */\n"
        )
    out.append("\n#endif /* NN_PARAMETER_H */\n")
    return "".join(out)


NN_H = (
    HEADER
    + """#ifndef NN_H
#define NN_H

#include <stdint.h>

#include "arm_nnfunctions.h"
#include "parameter.h"

/* uint8 pixels (H x W x C, the data set's channel order) -> the q7 network input */
void nn_preprocess(const uint8_t *pixels, q7_t *input);

/* Runs the network; output receives NN_OUTPUT_SIZE logits. Returns 0, or -(n + 1) when
   the n-th kernel call reports an error. */
int nn_run(const q7_t *input, q7_t *output);

#ifdef NN_PROFILE
/* counter ticks of each kernel call in the last nn_run, and the call running now */
extern uint32_t nn_profile_ticks[NN_CALL_COUNT];
extern volatile int32_t nn_current_call;
#endif
%s
#endif /* NN_H */
"""
)


def _call(program: Program, call: Call) -> list[str]:
    name, prefix = c_name(call.layer.name), c_macro(call.layer.name)
    arena = "nn_arena + "
    src = f"{arena}{c_macro(call.input)}_OFFSET"
    dst = f"{arena}{c_macro(call.output)}_OFFSET"
    scratch = f"(q15_t *)({arena}{c_macro(call.scratch)}_OFFSET)" if call.scratch else "NULL"
    op, k = call.layer.op, call.kernel.name
    p = prefix
    if isinstance(op, Conv2D | DepthwiseConv2D):
        weights = f"{name}_wt, {p}_OUT_CH"
        tail = f"{name}_bias, {p}_BIAS_LSHIFT, {p}_OUT_RSHIFT, {dst}"
        if k.endswith("_nonsquare"):
            args = (
                f"{src}, {p}_IN_X, {p}_IN_Y, {p}_IN_CH, {weights}, {p}_KER_X, {p}_KER_Y, "
                f"{p}_PAD_X, {p}_PAD_Y, {p}_STRIDE_X, {p}_STRIDE_Y, {tail}, {p}_OUT_X, "
                f"{p}_OUT_Y, {scratch}, NULL"
            )
        else:
            args = (
                f"{src}, {p}_IN_X, {p}_IN_CH, {weights}, {p}_KER_X, {p}_PAD_X, {p}_STRIDE_X, "
                f"{tail}, "
                f"{p}_OUT_X, {scratch}, NULL"
            )
        return [f"if ({k}({args}) != ARM_MATH_SUCCESS)", "return -{index};"]
    if isinstance(op, FullyConnected):
        args = (
            f"{src}, {name}_wt, {p}_DIM_VEC, {p}_OUT_DIM, {p}_BIAS_LSHIFT, {p}_OUT_RSHIFT, "
            f"{name}_bias, {dst}, {scratch}"
        )
        return [f"if ({k}({args}) != ARM_MATH_SUCCESS)", "return -{index};"]
    if isinstance(op, ReLU):
        size = program.model.graph.shapes[call.layer.name].size
        lines = []
        for start in range(0, size, UINT16_MAX):
            lines.append(f"{k}({src} + {start}, {min(UINT16_MAX, size - start)});")
        return lines
    if isinstance(op, Pool2D):
        buffer = f"(q7_t *)({arena}{c_macro(call.scratch)}_OFFSET)" if call.scratch else "NULL"
        return [
            f"{k}({src}, {p}_IN_X, {p}_IN_CH, {p}_KER_X, {p}_PAD_X, {p}_STRIDE_X, {p}_OUT_X, "
            f"{buffer}, {dst});"
        ]
    if isinstance(op, Softmax):
        return [f"{k}({src}, {program.model.graph.shapes[call.layer.name].size}, {dst});"]
    raise InputError(f"layer '{call.layer.name}': no call for {op.type_name}")


PROFILE_C = """#ifdef NN_PROFILE /* per-call counter ticks of the last nn_run (nn_counter.h) */
#include "nn_counter.h"
uint32_t nn_profile_ticks[NN_CALL_COUNT];
volatile int32_t nn_current_call = -1;
static uint32_t nn_profile_mark;

static void nn_mark(int32_t call)
{
    uint32_t now = nn_counter_read();
    if (call > 0) {
        nn_profile_ticks[call - 1] = now - nn_profile_mark;
    }
    nn_profile_mark = now;
    nn_current_call = call < NN_CALL_COUNT ? call : -1;
}
#define NN_MARK(call) nn_mark(call)
#else
#define NN_MARK(call) ((void)0)
#endif

"""


def nn_c(program: Program) -> str:
    model = q7_model(program)
    frac = model.pixel_frac
    if frac > 23:
        raise InputError(f"input pixel format with {frac} fractional bits is out of range")
    mean_index = "i" if model.mean.ndim == 3 else f"i % {model.mean.size}"
    if frac >= 0:
        scaled = f"centred * {1 << frac}"
    else:
        rounding = 1 << (-frac - 1)
        value, shift = f"(centred + {rounding})", -frac
        scaled = f"{value} >= 0 ? {value} >> {shift} : ~((~{value}) >> {shift})"
    body = []
    for index, call in enumerate(program.calls, 1):
        body.append(f"    /* {call.layer.name} */")
        body.append(f"    NN_MARK({index - 1});")
        lines = _call(program, call)
        if len(lines) == 2 and lines[1].startswith("return"):
            body.append(f"    {lines[0]} {{\n        {lines[1].format(index=index)}\n    }}")
        else:
            body.extend(f"    {line}" for line in lines)
        size = program.model.graph.shapes[call.layer.name].size
        body.append(f"    NN_TRACE({index - 1}, nn_arena + {c_macro(call.output)}_OFFSET, {size});")
    softmax = ""
    if program.softmax_buffer:
        softmax = (
            "\nvoid nn_probabilities(q7_t *probabilities)\n{\n"
            f"    memcpy(probabilities, nn_arena + {c_macro(program.softmax_buffer)}_OFFSET,\n"
            "           NN_OUTPUT_SIZE);\n}\n"
        )
    return (
        HEADER
        + '#include <string.h>\n\n#include "nn.h"\n#include "weights.h"\n\n'
        + "static q7_t nn_arena[NN_ARENA_SIZE] NN_ALIGN4;\n\n"
        + "#ifdef NN_TRACE_LAYERS /* a build for nn2mcu verify --trace: every layer's output */\n"
        + "void nn_trace_layer(int call, const q7_t *data, int32_t size);\n"
        + "#define NN_TRACE(call, data, size) nn_trace_layer((call), (data), (size))\n"
        + "#else\n#define NN_TRACE(call, data, size) ((void)0)\n#endif\n\n"
        + PROFILE_C
        + "void nn_preprocess(const uint8_t *pixels, q7_t *input)\n{\n"
        + "    for (int32_t i = 0; i < NN_INPUT_SIZE; i++) {\n"
        + f"        int32_t centred = (int32_t)pixels[i] - (int32_t)nn_mean[{mean_index}];\n"
        + f"        int32_t q = {scaled};\n"
        + "        input[i] = (q7_t)(q > 127 ? 127 : (q < -128 ? -128 : q));\n    }\n}\n\n"
        + "int nn_run(const q7_t *input, q7_t *output)\n{\n"
        + f"    memcpy(nn_arena + {c_macro(program.input_buffer)}_OFFSET, input, NN_INPUT_SIZE);\n"
        + "\n".join(body)
        + f"\n    NN_MARK({len(program.calls)});"
        + f"\n    memcpy(output, nn_arena + {c_macro(program.logits_buffer)}_OFFSET,"
        + " NN_OUTPUT_SIZE);\n"
        + "    return 0;\n}\n"
        + softmax
    )


MAIN_C = (
    HEADER
    + """/* The runner. Built plainly: nn_host IMAGES OUTPUTS [-v] reads N images of NN_INPUT_SIZE
   uint8 pixels (H x W x C each), writes N x NN_OUTPUT_SIZE logit bytes to OUTPUTS and, with
   -v, prints each image's class and scores. Built with -DNN_EMBEDDED_IMAGES (make
   nn_embedded): runs the images compiled in from images.h (nn2mcu generate --embed-images)
   and prints class, scores and label of each, then the count correct. */
#include <stdio.h>
#include <string.h>

#include "nn.h"
#ifdef NN_PROFILE
#include "nn_counter.h"
#endif

static int nn_report(long index, const q7_t *logits)
{
    int best = 0;
    for (int i = 1; i < NN_OUTPUT_SIZE; i++) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    printf("image %ld: class %d, scores", index, best);
    for (int i = 0; i < NN_OUTPUT_SIZE; i++) {
        printf(" %d", logits[i]);
    }
    return best;
}

#ifdef NN_TRACE_LAYERS
static FILE *nn_trace_file;

void nn_trace_layer(int call, const q7_t *data, int32_t size);
void nn_trace_layer(int call, const q7_t *data, int32_t size)
{
    int32_t header[2] = {call, size};
    fwrite(header, sizeof header, 1, nn_trace_file);
    fwrite(data, 1, (size_t)size, nn_trace_file);
}
#endif

#ifdef NN_EMBEDDED_IMAGES
#include "images.h"

int main(void)
{
    static q7_t input[NN_INPUT_SIZE];
    static q7_t logits[NN_OUTPUT_SIZE];
    long correct = 0;
    for (long n = 0; n < NN_IMAGE_COUNT; n++) {
        nn_preprocess(nn_images[n], input);
        int status = nn_run(input, logits);
        if (status != 0) {
            printf("image %ld: kernel call %d failed\\n", n, -status);
            return 1;
        }
        int best = nn_report(n, logits);
        printf(", label %d\\n", nn_labels[n]);
        correct += best == nn_labels[n];
    }
    printf("%ld of %d images classified correctly\\n", correct, NN_IMAGE_COUNT);
    return 0;
}
#else
static int nn_usage(const char *name)
{
    fprintf(stderr, "usage: %s IMAGES OUTPUTS [-v] [-p PROFILE]\\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    int verbose = 0;
    const char *profile_name = NULL;
    if (argc < 3) {
        return nn_usage(argv[0]);
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            profile_name = argv[++i];
        } else {
            return nn_usage(argv[0]);
        }
    }
    FILE *images = fopen(argv[1], "rb");
    FILE *outputs = fopen(argv[2], "wb");
    if (images == NULL || outputs == NULL) {
        fprintf(stderr, "cannot open %s or %s\\n", argv[1], argv[2]);
        return 2;
    }
#ifdef NN_PROFILE
    /* -p: per image, the ticks of nn_run and of each kernel call (uint32 each) */
    FILE *profile = NULL;
    if (profile_name != NULL && (profile = fopen(profile_name, "wb")) == NULL) {
        fprintf(stderr, "cannot open %s\\n", profile_name);
        return 2;
    }
    nn_counter_start();
#else
    if (profile_name != NULL) {
        fprintf(stderr, "-p needs a build with -DNN_PROFILE\\n");
        return 2;
    }
#endif
#ifdef NN_TRACE_LAYERS
    nn_trace_file = fopen("trace.bin", "wb");
    if (nn_trace_file == NULL) {
        fprintf(stderr, "cannot open trace.bin\\n");
        return 2;
    }
#endif
    static uint8_t pixels[NN_INPUT_SIZE];
    static q7_t input[NN_INPUT_SIZE];
    static q7_t logits[NN_OUTPUT_SIZE];
    long count = 0;
    while (fread(pixels, 1, NN_INPUT_SIZE, images) == NN_INPUT_SIZE) {
        nn_preprocess(pixels, input);
#ifdef NN_PROFILE
        uint32_t start = nn_counter_read();
#endif
        int status = nn_run(input, logits);
#ifdef NN_PROFILE
        uint32_t total = nn_counter_read() - start;
        if (profile != NULL) {
            fwrite(&total, sizeof total, 1, profile);
            fwrite(nn_profile_ticks, sizeof nn_profile_ticks[0], NN_CALL_COUNT, profile);
        }
#endif
        if (status != 0) {
            fprintf(stderr, "image %ld: kernel call %d failed\\n", count, -status);
            return 1;
        }
        fwrite(logits, 1, NN_OUTPUT_SIZE, outputs);
        if (verbose) {
            nn_report(count, logits);
            printf("\\n");
        }
        count++;
    }
    fclose(images);
    fclose(outputs);
#ifdef NN_PROFILE
    if (profile != NULL) {
        fclose(profile);
    }
#endif
    fprintf(stderr, "%ld images\\n", count);
    return 0;
}
#endif
"""
)


def images_h(pixels: np.ndarray, labels: np.ndarray) -> str:
    """Test images compiled into the runner (uint8, H x W x C each) and their labels."""
    count = len(pixels)
    rows = ",\n".join(f"    {{{c_values(image.ravel(), per_line=10**9)}}}" for image in pixels)
    return (
        HEADER
        + "#ifndef NN_IMAGES_H\n#define NN_IMAGES_H\n\n#include <stdint.h>\n\n"
        + f"#define NN_IMAGE_COUNT {count}\n\n"
        + f"static const uint8_t nn_images[NN_IMAGE_COUNT][NN_INPUT_SIZE] = {{\n{rows}\n}};\n\n"
        + f"static const uint16_t nn_labels[NN_IMAGE_COUNT] = {{{c_values(labels)}}};\n\n"
        + "#endif /* NN_IMAGES_H */\n"
    )


CMSIS_NN_SOURCES = (
    "ActivationFunctions", "ConvolutionFunctions", "FullyConnectedFunctions",
    "NNSupportFunctions", "PoolingFunctions", "SoftmaxFunctions",
)  # fmt: skip

CORTEX_M = """
# Cortex-M builds for QEMU's MPS2 boards (make cortex-m4 | cortex-m7): startup, linker
# script and counter in target/; weights stay in flash. On a real board use the vendor's
# start-up code and linker script instead and -DNN_COUNTER_DWT (cycles).
ARM_CC ?= arm-none-eabi-gcc
ARM_CFLAGS ?= -O2
CORTEX_M4 = -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
CORTEX_M7 = -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16
ARM_DEFINES = -DNN_PROFILE -DNN_COUNTER_QEMU_TIMER0
ARM_LDFLAGS = -T target/mps2.ld -nostartfiles --specs=nano.specs --specs=rdimon.specs \\
              -Wl,--gc-sections
ARM_DEPENDS = nn.c main.c nn.h parameter.h weights.h target/startup.c target/mps2.ld \\
              target/nn_counter.h

cortex-m4: nn_cortex-m4.elf
cortex-m7: nn_cortex-m7.elf

nn_cortex-m4.elf: $(ARM_DEPENDS)
\t$(call arm_build,$(CORTEX_M4),m4)

nn_cortex-m7.elf: $(ARM_DEPENDS)
\t$(call arm_build,$(CORTEX_M7),m7)
"""

MAKEFILE_CMSIS = (
    """# Generated by nn2mcu. Builds against CMSIS-NN's legacy q7 kernels from a CMSIS 5.x
# tree (5.9.0 or earlier): make CMSIS_5_ROOT=/path/to/CMSIS_5 [nn_host | cortex-m4 | ...]
CC ?= gcc
CFLAGS ?= -O2
CMSIS_5_ROOT ?= %s
WARNINGS = -std=c99 -Wall -Wextra -Werror
NN = $(abspath $(CMSIS_5_ROOT))/CMSIS/NN
INCLUDES = -I$(CURDIR) -I$(NN)/Include -I$(abspath $(CMSIS_5_ROOT))/CMSIS/DSP/Include \\
           -I$(abspath $(CMSIS_5_ROOT))/CMSIS/Core/Include
CMSIS_SOURCES = %s

nn_host: nn.c main.c nn.h parameter.h weights.h
\t$(CC) $(CFLAGS) $(WARNINGS) $(INCLUDES) -c nn.c main.c
\t$(CC) $(CFLAGS) -w $(INCLUDES) $(CMSIS_SOURCES) nn.o main.o -o $@

# the images compiled in (needs images.h: nn2mcu generate --embed-images N)
nn_embedded: nn.c main.c nn.h parameter.h weights.h images.h
\t$(CC) $(CFLAGS) $(WARNINGS) $(INCLUDES) -c nn.c
\t$(CC) $(CFLAGS) $(WARNINGS) $(INCLUDES) -DNN_EMBEDDED_IMAGES -c main.c -o main_embedded.o
\t$(CC) $(CFLAGS) -w $(INCLUDES) $(CMSIS_SOURCES) nn.o main_embedded.o -o $@

# the project's files with warnings as errors, CMSIS-NN's without warnings
define arm_build
mkdir -p build-$(2)
cd build-$(2) && $(ARM_CC) $(1) $(ARM_CFLAGS) -ffunction-sections -fdata-sections \\
  $(WARNINGS) $(ARM_DEFINES) $(INCLUDES) -I$(CURDIR)/target \\
  -c ../nn.c ../main.c ../target/startup.c
cd build-$(2) && $(ARM_CC) $(1) $(ARM_CFLAGS) -ffunction-sections -fdata-sections -w \\
  $(INCLUDES) -c $(CMSIS_SOURCES)
$(ARM_CC) $(1) $(ARM_CFLAGS) build-$(2)/*.o $(ARM_LDFLAGS) -o $@
endef
"""
    + CORTEX_M
    + """
clean:
\trm -rf nn_host nn_embedded nn.o main.o main_embedded.o nn_cortex-m4.elf nn_cortex-m7.elf \\
\t       build-m4 build-m7

.PHONY: clean cortex-m4 cortex-m7
"""
)

MAKEFILE_CMSIS_NN = MAKEFILE_CMSIS.replace(
    """# Generated by nn2mcu. Builds against CMSIS-NN's legacy q7 kernels from a CMSIS 5.x
# tree (5.9.0 or earlier): make CMSIS_5_ROOT=/path/to/CMSIS_5 [nn_host | cortex-m4 | ...]""",
    """# Generated by nn2mcu. Builds against CMSIS-NN's s8 kernels from a CMSIS-NN tree
# (v4 or later): make CMSIS_NN_ROOT=/path/to/CMSIS-NN [nn_host | cortex-m4 | ...]""",
).replace(
    """CMSIS_5_ROOT ?= %s
WARNINGS = -std=c99 -Wall -Wextra -Werror
NN = $(abspath $(CMSIS_5_ROOT))/CMSIS/NN
INCLUDES = -I$(CURDIR) -I$(NN)/Include -I$(abspath $(CMSIS_5_ROOT))/CMSIS/DSP/Include \\
           -I$(abspath $(CMSIS_5_ROOT))/CMSIS/Core/Include
CMSIS_SOURCES = %s""",
    """CMSIS_NN_ROOT ?= %s
WARNINGS = -std=c99 -Wall -Wextra -Werror
NN = $(abspath $(CMSIS_NN_ROOT))
INCLUDES = -I$(CURDIR) -I$(NN)/Include
CMSIS_SOURCES = $(wildcard $(NN)/Source/*/*.c)""",
)

MAKEFILE = (
    """# Generated by nn2mcu. Builds on the portable kernels in kernels/:
# make [nn_host | nn_embedded | cortex-m4 | cortex-m7]
CC ?= gcc
CFLAGS ?= -O2
WARNINGS = -std=c99 -Wall -Wextra -Werror
SOURCES = nn.c main.c $(wildcard kernels/*.c)

nn_host: $(SOURCES) nn.h parameter.h weights.h
\t$(CC) $(CFLAGS) $(WARNINGS) -I. -Ikernels $(SOURCES) -o $@

# the images compiled in (needs images.h: nn2mcu generate --embed-images N)
nn_embedded: $(SOURCES) nn.h parameter.h weights.h images.h
\t$(CC) $(CFLAGS) $(WARNINGS) -DNN_EMBEDDED_IMAGES -I. -Ikernels $(SOURCES) -o $@

define arm_build
$(ARM_CC) $(1) $(ARM_CFLAGS) -ffunction-sections -fdata-sections $(WARNINGS) $(ARM_DEFINES) \\
  -I. -Ikernels -Itarget $(SOURCES) target/startup.c $(ARM_LDFLAGS) -o $@
endef
"""
    + CORTEX_M
    + """
clean:
\trm -f nn_host nn_embedded nn_cortex-m4.elf nn_cortex-m7.elf

.PHONY: clean cortex-m4 cortex-m7
"""
)


def check_cmsis_root(root: str | None) -> Path:
    """The CMSIS_5 tree named by CMSIS_5_ROOT, checked for the legacy q7 API."""
    if not root:
        raise InputError(
            "--kernels cmsis needs CMSIS_5_ROOT: the root of a CMSIS 5.x tree (<= 5.9.0)"
        )
    header = Path(root) / "CMSIS" / "NN" / "Include" / "arm_nnfunctions.h"
    if not header.is_file():
        raise InputError(f"CMSIS_5_ROOT={root}: {header} not found")
    if "arm_convolve_HWC_q7_basic" not in header.read_text(errors="replace"):
        raise InputError(
            f"CMSIS_5_ROOT={root}: {header} has no legacy q7 API (removed in CMSIS-NN 4.0; "
            "use CMSIS 5.9.0 or earlier)"
        )
    for name in ("DSP/Include/arm_math_types.h", "Core/Include/cmsis_compiler.h"):
        if not (Path(root) / "CMSIS" / name).is_file():
            raise InputError(f"CMSIS_5_ROOT={root}: CMSIS/{name} not found")
    return Path(root)


def _q7_files(
    program: Program, kernels: str, cmsis_root: Path | None, compat: str | None
) -> dict[str, str]:
    files = {
        "weights.h": weights_h(program),
        "parameter.h": parameter_h(program),
        "nn.h": NN_H
        % (
            "\n/* the softmax layer's outputs of the last nn_run */\n"
            "void nn_probabilities(q7_t *probabilities);\n"
            if program.softmax_buffer
            else ""
        ),
        "nn.c": nn_c(program),
        "main.c": MAIN_C,
        "Makefile": MAKEFILE,
    }
    if kernels == "cmsis":
        if cmsis_root is None:
            raise InputError("--kernels cmsis needs CMSIS_5_ROOT")
        sources = " ".join(f"$(wildcard $(NN)/Source/{folder}/*.c)" for folder in CMSIS_NN_SOURCES)
        files["Makefile"] = MAKEFILE_CMSIS % (cmsis_root.resolve(), sources)
    if compat is not None:
        if compat != COMPAT_NAME:
            raise InputError(f"--compat {compat}: unknown; the one known is {COMPAT_NAME}")
        files.update(example_headers(program))
    return files


def generate(
    program: Program,
    directory: Path,
    kernels: str = "portable",
    cmsis_root: Path | None = None,
    compat: str | None = None,
    images: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Path]:
    """Write the project into ``directory`` (made, or replaced file by file); with
    ``compat`` also the headers of that existing example, with ``images`` (uint8 pixels,
    labels) an images.h for the runner's embedded mode."""
    _check_names(program)
    if isinstance(program.model, S8Model):
        if compat is not None:
            raise InputError(f"--compat {compat} needs a q7 model (the example calls q7 kernels)")
        if kernels == "cmsis":
            if cmsis_root is None:
                raise InputError("--kernels cmsis for an s8 model needs CMSIS_NN_ROOT")
            files = s8_files(program, MAKEFILE_CMSIS_NN % cmsis_root.resolve())
        else:
            files = s8_files(program, MAKEFILE)
        kernel_folder = KERNELS_S8
    else:
        files = _q7_files(program, kernels, cmsis_root, compat)
        kernel_folder = KERNELS
    if images is not None:
        files["images.h"] = images_h(*images)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    folder = directory / "target"
    folder.mkdir(exist_ok=True)
    for source in sorted(TARGET.iterdir()):
        if source.suffix in (".c", ".h", ".ld"):
            shutil.copyfile(source, folder / source.name)
            written.append(folder / source.name)
    if kernels == "portable":
        folder = directory / "kernels"
        folder.mkdir(exist_ok=True)
        sources = sorted(kernel_folder.iterdir())
        if kernel_folder == KERNELS_S8:  # the s8 kernels share the SIMD helpers
            sources.append(KERNELS / "nn2mcu_simd.h")
        for source in sources:
            if source.suffix in (".c", ".h"):
                shutil.copyfile(source, folder / source.name)
                written.append(folder / source.name)
    return written
