"""The generated C project: weights.h, parameter.h, nn.h, nn.c, main.c, Makefile.

One emitter for every scheme: each call's binding writes its arrays, #defines, structs and
statements; the scheme gives the C element type and its parts of the whole-file templates
(templates/, Jinja2). Generation is deterministic to the byte. Kernel calls name
CMSIS-NN's functions; the project builds against the portable kernels copied into
kernels/ or against a real CMSIS tree.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from nn2mcu.cgen import (
    ALIGN,
    HEADER,
    c_array,
    c_macro,
    c_name,
    c_string,
    c_values,
    declarations,
    defined_arrays,
)
from nn2mcu.codegen.cifar10_example import COMPAT_NAME, example_headers
from nn2mcu.codegen.kernel_prefix import KernelPrefix
from nn2mcu.codegen.lower import Program
from nn2mcu.errors import InputError
from nn2mcu.ops import binding
from nn2mcu.schemes import scheme_of

TARGET = Path(__file__).resolve().parent.parent / "targets" / "mps2"
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("nn2mcu.codegen", "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)


def _render(template: str, **values: object) -> str:
    return TEMPLATES.get_template(template).render(header=HEADER, **values)


def _check_names(program: Program) -> None:
    seen: dict[str, str] = {}
    for call in program.calls:
        ident = c_name(call.layer.name)
        if ident in seen and seen[ident] != call.layer.name:
            raise InputError(
                f"layers '{seen[ident]}' and '{call.layer.name}' both become the C name '{ident}'"
            )
        seen[ident] = call.layer.name


def tensor_mode(program: Program) -> bool:
    """True for a model imported from TFLite: the C takes and gives its int8 tensors."""
    return bool(program.model.tensor_input)


def _pixel_map(program: Program) -> tuple[float, float] | None:
    """(M, S) when an imported model was given a pixel mapping, else None."""
    imported = program.model.imported
    return None if imported is None else imported.pixel_map


def output_buffer(program: Program) -> str:
    """What nn_run copies to the caller: the logits, or in raw-tensor mode the output
    tensor (the softmax's, when the model ends in one)."""
    if tensor_mode(program) and program.softmax_buffer is not None:
        return program.softmax_buffer
    return program.logits_buffer


def output_layer(program: Program) -> str:
    graph = program.model.graph
    if tensor_mode(program):
        return graph.outputs[0]
    return program.model.logits


def weight_definitions(program: Program) -> str:
    """Every constant array of the project (weights, biases, quantization parameters, the
    input mean or pixel table), each with its comment."""
    model = program.model
    out = []
    pixel_map = _pixel_map(program)
    if pixel_map is not None:
        mean, scale = pixel_map
        out.append(
            f"/* pixels p to the int8 input: x = (p - {mean!r}) * {scale!r}, q = clamp(round-"
            "half-away(x / NN_INPUT_SCALE) + NN_INPUT_ZERO_POINT), in double, per value */\n"
            + c_array(
                "int8_t",
                "nn_pixel_table",
                model.imported.pixel_table(
                    scheme_of(model).tensor_parameters(model)[model.graph.input_name]
                ),
            )
            + "\n"
        )
    if not tensor_mode(program):
        per = "per pixel (H x W x C)" if model.mean.ndim == 3 else "per channel"
        out.append(
            f"/* input preprocessing: M = floor(mean + 0.5), {per} */\n"
            + c_array("uint8_t", "nn_mean", model.mean)
            + "\n"
        )
    for call in program.calls:
        site = program.site(call)
        out.append(binding(site, program.scheme).c_weights(site, call))
    return "".join(out)


def weights_h(program: Program, definitions: str) -> str:
    """The declarations of weights.c's arrays (``definitions``, from
    :func:`weight_definitions`): a header any number of files may include."""
    element = scheme_of(program.model).element_type
    types = "" if element.endswith("int8_t") else '#include "arm_nnfunctions.h" /* q7_t */\n'
    return (
        HEADER
        + "#ifndef NN_WEIGHTS_H\n#define NN_WEIGHTS_H\n\n#include <stdint.h>\n"
        + types
        + "\n"
        + declarations(definitions)
        + "#endif /* NN_WEIGHTS_H */\n"
    )


def weights_c(definitions: str) -> str:
    """The constant arrays (``definitions``), defined once (flash), each checked 4-byte
    aligned."""
    checks = "".join(f"NN_CHECK_ALIGNED4({name});\n" for name in defined_arrays(definitions))
    return (
        HEADER
        + '#include "parameter.h"\n#include "weights.h"\n\n'
        + definitions
        + "/* the kernels read these arrays a word at a time */\n"
        + checks
    )


def parameter_h(program: Program) -> str:
    model = program.model
    graph = model.graph
    shape = graph.shapes[program.input_buffer]
    logits = graph.shapes[model.logits]
    lines = [
        f"#define NN_INPUT_H {shape.h}",
        f"#define NN_INPUT_W {shape.w}",
        f"#define NN_INPUT_C {shape.c}",
        f"#define NN_INPUT_SIZE {shape.size}",
        f"#define NN_OUTPUT_SIZE {graph.shapes[output_layer(program)].size}",
        *([f"#define NN_LOGITS_SIZE {logits.size}"] if tensor_mode(program) else []),
        *scheme_of(model).input_defines(model),
        f"#define NN_ARENA_SIZE {program.arena_size}",
        f"#define NN_CALL_COUNT {len(program.calls)}",
        "",
    ]
    for call in program.calls:
        site = program.site(call)
        prefix = c_macro(call.layer.name)
        lines.append(f"/* {call.layer.name}: {call.kernel.name} ({call.kernel.reason}) */")
        defines = binding(site, program.scheme).c_defines(site, call)
        lines += [f"#define {prefix}_{key} {value}" for key, value in defines.items()]
        lines.append("")
    lines.append("/* arena offsets (bytes), each a multiple of 4 */")
    buffers = sorted(program.buffers.values(), key=lambda b: (b.offset, b.name))
    for buffer in buffers:
        lines.append(
            f"#define {c_macro(buffer.name)}_OFFSET {buffer.offset} /* {buffer.size} bytes */"
        )
    macros = [line.split()[1] for line in lines if line.startswith("#define")]
    clashes = sorted({name for name in macros if macros.count(name) > 1})
    if clashes:
        raise InputError(f"layer names give the same C macro twice: {', '.join(clashes)}")
    checks = [
        f"NN_CHECK({c_name(buffer.name)}_offset, {c_macro(buffer.name)}_OFFSET % 4 == 0);"
        for buffer in buffers
    ]
    return (
        HEADER
        + "#ifndef NN_PARAMETER_H\n#define NN_PARAMETER_H\n\n"
        + ALIGN
        + "\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(checks)
        + "\n\n#endif /* NN_PARAMETER_H */\n"
    )


# nn.c of a plan that only the portable kernels run (Program.portable_only) builds only
# with them (their header's include guard; renamed with the rest by --kernel-prefix).
def portable_guard(program: Program) -> str:
    """The #error that stops nn.c's build against another CMSIS-NN, or ''."""
    what = program.portable_only
    if not what:
        return ""
    return (
        "#ifndef NN2MCU_S8_ARM_NNFUNCTIONS_H\n"
        f"#error \"this nn.c needs nn2mcu's portable kernels (kernels/): {', '.join(what)}; "
        'for another CMSIS-NN regenerate with --kernels cmsis"\n'
        "#endif\n"
    )


def nn_c(program: Program, class_names: tuple[str, ...] | None = None) -> str:
    model = program.model
    scheme = scheme_of(model)
    structs, body, helpers = [], [], []
    for index, call in enumerate(program.calls, 1):
        site = program.site(call)
        rules = binding(site, program.scheme)
        helper = rules.c_helper(site, call)
        if helper and helper not in helpers:
            helpers.append(helper)
        lines = rules.c_structs(site, call)
        if lines:
            structs += [f"/* {call.layer.name}: {call.kernel.name} */", *lines, ""]
        note = program.overlay_note(index - 1)
        body.append(f"    /* {call.layer.name}{f': {note}' if note else ''} */")
        body.append(f"    NN_MARK({index - 1});")
        for statement in rules.c_call(site, call):
            if statement.checked:
                body.append(
                    f"    if ({statement.text} != {scheme.status_ok}) {{\n"
                    f"        return -{index};\n    }}"
                )
            else:
                body.append(f"    {statement.text}")
        size = model.graph.shapes[call.layer.name].size
        body.append(f"    NN_TRACE({index - 1}, nn_arena + {c_macro(call.output)}_OFFSET, {size});")
    parts = scheme.nn_c_parts(model)
    return _render(
        "nn.c.j2",
        pixels=_pixel_map(program) is not None,
        tensor_mode=tensor_mode(program),
        output_offset=f"{c_macro(output_buffer(program))}_OFFSET",
        element=scheme.element_type,
        includes=parts["includes"] + portable_guard(program),
        quantized=parts["quantized"],
        mean_index="i" if model.mean.ndim == 3 else f"i % {model.mean.size}",
        helpers="".join(helpers),
        structs="".join(f"{line}\n" for line in structs),
        input_offset=f"{c_macro(program.input_buffer)}_OFFSET",
        body="\n".join(body),
        calls=len(program.calls),
        logits_offset=f"{c_macro(program.logits_buffer)}_OFFSET",
        probabilities=(
            f"{c_macro(program.softmax_buffer)}_OFFSET" if program.softmax_buffer else ""
        ),
        class_names=class_table(program, class_names),
    )


def class_names_for(
    program: Program, names: tuple[str, ...] | None
) -> tuple[tuple[str, ...] | None, str | None]:
    """The data set's class names if there is one per output, else None and why not."""
    if names is None:
        return None, None
    outputs = program.model.graph.shapes[output_layer(program)].size
    if len(names) != outputs:
        return None, (
            f"no nn_class_names: the data set names {len(names)} classes, the network has "
            f"{outputs} outputs"
        )
    return names, None


def class_table(program: Program, class_names: tuple[str, ...] | None) -> str:
    """nn_class_names's definition, or "" without names; the names must be one per output."""
    fitting, note = class_names_for(program, class_names)
    if note is not None:
        raise InputError(note)
    if fitting is None:
        return ""
    rows = "".join(f"    {c_string(name)},\n" for name in fitting)
    return f"const char *const nn_class_names[NN_OUTPUT_SIZE] = {{\n{rows}}};\n"


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


def makefile(program: Program, cmsis_root: Path | None) -> str:
    """The portable kernels' Makefile, or (with ``cmsis_root``) one that builds against
    that CMSIS tree of the scheme's API."""
    scheme = scheme_of(program.model)
    defines = scheme.makefile_defines(program.model)
    flags = {
        "defines": defines,
        "cflags": "$(CFLAGS) $(DEFINES)" if defines else "$(CFLAGS)",
        "arm_cflags": "$(ARM_CFLAGS) $(DEFINES)" if defines else "$(ARM_CFLAGS)",
    }
    if cmsis_root is None:
        return _render("Makefile.j2", **flags)
    cmsis = scheme.cmsis_build(cmsis_root)
    return _render("Makefile.cmsis.j2", cmsis=cmsis, root=cmsis_root.resolve(), **flags)


def cmakelists(program: Program, cmsis_root: Path | None) -> str:
    """CMakeLists.txt: the static library nn2mcu_model and, on the host, nn_host."""
    scheme = scheme_of(program.model)
    values: dict[str, object] = {
        "definitions": " ".join(scheme.compile_definitions(program.model)),
        "cmsis": None,
    }
    if cmsis_root is not None:
        cmsis = scheme.cmsis_build(cmsis_root)
        root_ref = "${" + cmsis.variable + "}"
        values.update(
            cmsis=cmsis,
            root=cmsis_root.resolve().as_posix(),
            root_ref=root_ref,
            nn=f"{root_ref}/{cmsis.nn}" if cmsis.nn else root_ref,
            what=scheme.cmsis_tree,
        )
    return _render("CMakeLists.txt.j2", **values)


# The clang -Weverything warnings the generated C keeps, each with its reason (the project's
# README lists them; tests/codegen/test_project_builds.py builds with the rest as errors).
CLANG_ALLOWED_WARNINGS = (
    ("-Wdeclaration-after-statement", "the code is C99, which declares variables where they "
     "are first needed; the warning is about C89 compilers"),
    ("-Wpadded", "on 64-bit hosts only: `cmsis_nn_context`, CMSIS-NN's struct of a pointer and "
     "an int32, has 4 bytes of tail padding; on Cortex-M it has none"),
)  # fmt: skip

_FILE_NOTES = {
    "nn.h": "the C API: `nn_preprocess`/`nn_run` (or the raw-tensor functions) and what they take",
    "nn.c": "the network: one kernel call per layer, in order, on the static arena",
    "weights.h": "`extern` declarations of the constant arrays (include it from any file)",
    "weights.c": "the constant arrays themselves (weights, biases, quantization parameters), "
    "defined once, in flash",
    "parameter.h": "dimensions, shifts or quantization parameters, arena offsets, `NN_ALIGN4` "
    "and the compile-time alignment checks",
    "main.c": "nn2mcu's runner: files of test inputs in, outputs out (host and QEMU)",
    "Makefile": "`make nn_host`, `make cortex-m4`, `make cortex-m7`",
    "CMakeLists.txt": "the static library `nn2mcu_model` and, on the host, `nn_host`",
    "cmake/": "`arm-none-eabi.cmake`, a toolchain file for the GNU Arm toolchain",
    "kernels/": "nn2mcu's portable CMSIS-NN kernels used by `nn.c` (C99, bit-exact)",
    "target/": "start-up code, linker script and counter for QEMU's MPS2 boards",
    "README.md": "this file",
}


def readme(
    program: Program, files: list[str], kernels: str, cmsis_root: Path | None,
    kernel_prefix: str | None, class_names: tuple[str, ...] | None,
) -> str:  # fmt: skip
    """The project's own README.md: its files, how to build it, the C API, memory, kernels."""
    from nn2mcu import __version__
    from nn2mcu.codegen.lower import flash_bytes

    model = program.model
    scheme = scheme_of(model)
    graph = model.graph
    shape = graph.shapes[program.input_buffer]
    folders = sorted({name.split("/")[0] + "/" for name in files if "/" in name})
    listed = [name for name in files if "/" not in name] + folders + ["README.md"]
    notes = [(name, _FILE_NOTES.get(name, "the headers CMSIS-NN's CIFAR-10 example includes"))
             for name in listed]  # fmt: skip
    imported = model.imported
    if imported is not None:
        source = f"`{Path(imported.path).name}` (an int8 TFLite model, kept as TFLite quantized it)"
    else:
        source = "a network quantized by `nn2mcu quantize`"
    cmsis = scheme.cmsis_build(cmsis_root or Path("."))
    include = " ".join(f"`{scheme.cmsis_variable}/{folder}`" for folder in cmsis.includes)
    nn_dir = f"{scheme.cmsis_variable}/{cmsis.nn}" if cmsis.nn else scheme.cmsis_variable
    sources = ", ".join(f"`{nn_dir}/{pattern}`" for pattern in cmsis.sources)
    pixel_map = _pixel_map(program)
    values: dict[str, object] = {
        "name": graph.name or "network",
        "version": __version__,
        "source": source,
        "scheme_words": scheme.api_words,
        "portable": kernels == "portable",
        "cmsis_variable": scheme.cmsis_variable,
        "cmsis_root": cmsis_root.resolve().as_posix() if cmsis_root else "",
        "cmsis_words": scheme.cmsis_functions,
        "cmsis_how": f"{sources} with the include folders {include}",
        "files": notes,
        "definitions": " ".join(scheme.compile_definitions(model)),
        "tensor_mode": tensor_mode(program),
        "pixels": pixel_map is not None,
        "pixel_words": (
            f"x = (p - {pixel_map[0]!r}) * {pixel_map[1]!r}, then quantized" if pixel_map else ""
        ),
        "probabilities": program.softmax_buffer is not None,
        "element": scheme.element_type,
        "input_shape": _tensor_shape(program, program.input_buffer),
        "output_shape": _tensor_shape(program, output_layer(program)),
        "input_size": shape.size,
        "input_h": shape.h,
        "input_w": shape.w,
        "input_c": shape.c,
        "output_size": graph.shapes[output_layer(program)].size,
        "input_format": scheme.value_format(model, program.input_buffer),
        "output_format": scheme.value_format(model, output_layer(program)),
        "class_names": ", ".join(f"{i} `{name}`" for i, name in enumerate(class_names or ())),
        "arena": f"{program.arena_size:,}",
        "flash": f"{flash_bytes(program):,}",
        "per_channel": "multiplier" in scheme.weight_arrays,
        "kernels": [(c.layer.name, c.kernel.name, c.kernel.reason) for c in program.calls],
        "overlays": [
            (program.calls[o.call].layer.name, program.overlay_note(o.call))
            for o in sorted(program.overlays, key=lambda o: o.call)
        ],
        "prefix": kernel_prefix or "",
        "warnings": CLANG_ALLOWED_WARNINGS,
    }
    return _render("README.md.j2", **values)


def _tensor_shape(program: Program, layer: str) -> str:
    shape = program.model.graph.shapes[layer]
    return f"[1, {shape.c}]" if shape.is_vector else f"[1, {shape.h}, {shape.w}, {shape.c}]"


def nn_h_values(program: Program, class_names: tuple[str, ...] | None = None) -> dict[str, object]:
    model = program.model
    values: dict[str, object] = {
        "class_names": class_names is not None,
        "element": scheme_of(model).element_type,
        "scheme": scheme_of(model).name,
        "probabilities": program.softmax_buffer is not None,
        "tensor_mode": tensor_mode(program),
        "pixels": _pixel_map(program) is not None,
    }
    if tensor_mode(program):
        imported = model.imported
        edges = []
        if imported.float_input:
            edges.append("The TFLite model's float input is quantized to this int8 input.")
        if imported.float_output:
            edges.append("The TFLite model dequantizes this int8 output to float.")
        values.update(
            source=Path(imported.path).name,
            input_shape=_tensor_shape(program, program.input_buffer),
            output_shape=_tensor_shape(program, output_layer(program)),
            float_edges="\n   ".join(edges),
        )
    return values


def project_files(
    program: Program, kernels: str = "portable", cmsis_root: Path | None = None,
    compat: str | None = None, *, kernel_prefix: str | None = None,
    class_names: tuple[str, ...] | None = None,
) -> dict[str, str]:  # fmt: skip
    """The generated text files of a project, by path (the portable kernels under
    kernels/, the QEMU boards' start-up under target/)."""
    scheme = scheme_of(program.model)
    _check_names(program)
    if kernels == "cmsis" and cmsis_root is None:
        raise InputError(f"--kernels cmsis for a {scheme.name} model needs {scheme.cmsis_variable}")
    if kernel_prefix is not None and kernels != "portable":
        raise InputError("--kernel-prefix renames the portable kernels; not for --kernels cmsis")
    if kernels == "cmsis" and program.portable_only:
        raise ValueError(
            f"this plan needs nn2mcu's portable kernels ({', '.join(program.portable_only)}): "
            "lower the model with kernels='cmsis'"
        )
    if kernel_prefix is not None and compat is not None:
        raise InputError(
            f"--kernel-prefix with --compat {compat}: the example calls CMSIS-NN's own names"
        )
    element = scheme.element_type
    definitions = weight_definitions(program)
    files = {
        "weights.h": weights_h(program, definitions),
        "weights.c": weights_c(definitions),
        "parameter.h": parameter_h(program),
        "nn.h": _render("nn.h.j2", **nn_h_values(program, class_names)),
        "nn.c": nn_c(program, class_names),
        "main.c": _render(
            "main_tensor.c.j2" if tensor_mode(program) else "main.c.j2",
            element=element,
            pixels=_pixel_map(program) is not None,
            probabilities=program.softmax_buffer is not None,
            input_shape=_tensor_shape(program, program.input_buffer),
        ),
        "Makefile": makefile(program, cmsis_root if kernels == "cmsis" else None),
        "CMakeLists.txt": cmakelists(program, cmsis_root if kernels == "cmsis" else None),
        "cmake/arm-none-eabi.cmake": _render("arm-none-eabi.cmake.j2"),
    }
    if compat is not None:
        if compat != COMPAT_NAME:
            raise InputError(f"--compat {compat}: unknown; the one known is {COMPAT_NAME}")
        if scheme.name != "q7":
            raise InputError(f"--compat {compat} needs a q7 model (the example calls q7 kernels)")
        files.update(example_headers(program))
    for source in sorted(TARGET.iterdir()):
        if source.suffix in (".c", ".h", ".ld"):
            files[f"target/{source.name}"] = source.read_text()
    listed = [*files, *(["kernels/"] if kernels == "portable" else [])]
    files["README.md"] = readme(program, listed, kernels, cmsis_root, kernel_prefix, class_names)
    if kernels == "portable":
        sources = scheme.kernel_files
        if kernel_prefix is None:
            files.update({f"kernels/{path.name}": path.read_text() for path in sources})
        else:
            rename = KernelPrefix(kernel_prefix, sources)
            files = {name: rename.text(text) for name, text in files.items()}
            files.update({f"kernels/{name}": text for name, text in rename.kernels().items()})
    return files


def generate(
    program: Program,
    directory: Path,
    kernels: str = "portable",
    cmsis_root: Path | None = None,
    compat: str | None = None,
    images: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    kernel_prefix: str | None = None,
    class_names: tuple[str, ...] | None = None,
) -> list[Path]:
    """Write the project into ``directory`` (made, or replaced file by file); with
    ``compat`` also the headers of that existing example, with ``images`` (uint8 pixels,
    labels) an images.h for the runner's embedded mode, with ``kernel_prefix`` the portable
    kernels renamed (:mod:`kernel_prefix`), with ``class_names`` a table nn_class_names."""
    files = project_files(
        program, kernels, cmsis_root, compat, kernel_prefix=kernel_prefix,
        class_names=class_names,
    )  # fmt: skip
    if images is not None:
        files["images.h"] = images_h(*images)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
