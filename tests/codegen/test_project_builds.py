"""The generated project outside nn2mcu's own Makefile: CMake for the host and as a
Cortex-M static library, weights.h in more than one file, and --kernel-prefix beside a
second CMSIS-NN.

The models are the golden Fashion-MNIST networks (tests/golden/networks, both schemes);
the images are the Debian package's Fashion-MNIST test set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.host import build_host, expected_records, record_size, run_host
from nn2mcu.codegen.lower import Program, lower
from nn2mcu.datasets import load_dataset
from nn2mcu.modelfile import read_quantized
from nn2mcu.schemes import SCHEMES
from tests.codegen.conftest import nn2mcu

NETWORKS = Path(__file__).resolve().parents[1] / "golden" / "networks"
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def require_tool(name: str) -> None:
    """Fail (never skip) when a tool the test needs is missing: scripts/setup installs it."""
    assert shutil.which(name) is not None, f"{name} is not installed (scripts/setup installs it)"


def _program(name: str) -> Program:
    return lower(read_quantized(NETWORKS / name / "model.json"))


def _images(count: int) -> np.ndarray:
    return load_dataset("fashion-mnist").test.images[:count]


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def _ok(command: list[str | Path], cwd: Path) -> str:
    result = _run(command, cwd)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stderr[-3000:]}"
    return result.stdout


def _generate(name: str, directory: Path, *extra: object) -> Path:
    result = nn2mcu(
        "generate", NETWORKS / name / "model.json", "-o", directory, *extra, cwd=directory.parent
    )
    assert result.returncode == 0, result.stderr
    return directory


@pytest.mark.host
@pytest.mark.parametrize("name", ["fashion-q7", "fashion-s8"])
def test_cmake_host_runner_writes_the_makefile_runners_bytes(name: str, tmp_path: Path) -> None:
    require_tool("cmake")
    project = _generate(name, tmp_path / "project")
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    _ok(["cmake", "-S", copy, "-B", copy / "build"], tmp_path)
    _ok(["cmake", "--build", copy / "build"], tmp_path)
    program = _program(name)
    pixels = _images(300)
    size = record_size(program)
    by_cmake = run_host(copy / "build" / "nn_host", pixels, size, tmp_path)
    by_make = run_host(build_host(project), pixels, size, tmp_path)
    assert by_cmake.tobytes() == by_make.tobytes()
    expected = expected_records(program.model, pixels)
    assert by_make.tobytes() == expected.astype(np.int8).tobytes()


def _arm_attributes(archive: Path) -> str:
    return _ok(["arm-none-eabi-readelf", "-A", archive], archive.parent)


@pytest.mark.cortex_m
def test_cmake_builds_a_cortex_m4_static_library(tmp_path: Path) -> None:
    require_tool("cmake")
    require_tool("arm-none-eabi-gcc")
    project = _generate("fashion-s8", tmp_path / "project")
    toolchain = project / "cmake" / "arm-none-eabi.cmake"
    build = tmp_path / "build-m4"
    _ok(["cmake", "-S", project, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"], tmp_path)
    _ok(["cmake", "--build", build], tmp_path)
    library = build / "libnn2mcu_model.a"
    attributes = _arm_attributes(library)
    # every member: Armv7E-M (the M4's architecture) with the M4F's single-precision FPU
    members = attributes.count("File Attributes")
    assert members > 5
    for tag in ("Tag_CPU_arch: v7E-M", "Tag_FP_arch: VFPv4-D16", "Tag_ABI_VFP_args: VFP registers"):
        assert attributes.count(tag) == members, tag
    symbols = _ok(["arm-none-eabi-nm", "--defined-only", library], tmp_path)
    for symbol in ("nn_run", "nn_preprocess", "arm_convolve_wrapper_s8", "conv1_wt"):
        assert re.search(rf" [TR] {symbol}$", symbols, re.M), symbol
    assert not (build / "nn_host").exists()  # the runner is the host's only


@pytest.mark.cortex_m
@pytest.mark.parametrize(
    ("cpu", "tag"),
    [("cortex-m7", "Tag_FP_arch: FPv5/FP-D16"), ("cortex-m33", "Tag_CPU_arch: v8-M.mainline"),
     ("cortex-m55", "Tag_MVE_arch: MVE"), ("cortex-m0plus", "Tag_CPU_arch: v6S-M"),
     ("cortex-m3", "Tag_CPU_arch: v7\n")],
)  # fmt: skip
def test_the_toolchain_file_knows_each_core_it_lists(cpu: str, tag: str, tmp_path: Path) -> None:
    require_tool("cmake")
    require_tool("arm-none-eabi-gcc")
    project = _generate("fashion-q7", tmp_path / "project")
    build = tmp_path / "build"
    toolchain = project / "cmake" / "arm-none-eabi.cmake"
    _ok(
        ["cmake", "-S", project, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
         f"-DNN2MCU_CPU={cpu}"],
        tmp_path,
    )  # fmt: skip
    _ok(["cmake", "--build", build], tmp_path)
    attributes = _arm_attributes(build / "libnn2mcu_model.a")
    assert attributes.count(tag) == attributes.count("File Attributes") >= 5, attributes


def _arm_size(path: Path) -> int:
    """text + data of an object or ELF, by arm-none-eabi-size (Berkeley format)."""
    out = _ok(["arm-none-eabi-size", path], path.parent).splitlines()[1].split()
    return int(out[0]) + int(out[1])


@pytest.mark.cortex_m
def test_weights_h_from_a_second_file_adds_no_flash(tmp_path: Path) -> None:
    require_tool("arm-none-eabi-gcc")
    project = _generate("fashion-q7", tmp_path / "project")
    second = project / "second.c"
    second.write_text(
        '#include "weights.h"\n\n'
        "int nn_second_reader(int i);\n"
        "int nn_second_reader(int i)\n{\n"
        "    return nn_mean[i % 3] + conv1_wt[i] + ip1_wt[i] + conv3_bias[i % 32];\n}\n"
    )
    include = ["-I", project, "-I", project / "kernels"]
    _ok(["arm-none-eabi-gcc", *M4_FLAGS, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
         *include, "-c", second, "-o", project / "second.o"], project)  # fmt: skip
    # the second file holds its function only: the arrays stay undefined in it
    symbols = _ok(["arm-none-eabi-nm", project / "second.o"], project)
    for array in ("nn_mean", "conv1_wt", "ip1_wt", "conv3_bias"):
        assert re.search(rf"^\s+U {array}$", symbols, re.M), symbols
    function = int(_ok(["arm-none-eabi-size", project / "second.o"], project).splitlines()[1]
                   .split()[0])  # fmt: skip
    assert 0 < function <= 128
    # and the program with it grows by that function, not by a copy of any array
    _ok(["make", "cortex-m4"], project)
    alone = _arm_size(project / "nn_cortex-m4.elf")
    (project / "nn_cortex-m4.elf").unlink()
    _ok(["make", "cortex-m4", "ARM_LDLIBS=second.o -Wl,--undefined=nn_second_reader"], project)
    both = _arm_size(project / "nn_cortex-m4.elf")
    sizes = _ok(["arm-none-eabi-nm", "-S", project / "nn_cortex-m4.elf"], project)
    conv1 = re.search(r"^[0-9a-f]+ ([0-9a-f]+) [TRtr] conv1_wt$", sizes, re.M)
    assert conv1 is not None, sizes
    assert 0 < both - alone <= function + 8 < int(conv1.group(1), 16), (alone, both, function)


def _portable_symbols(tmp_path: Path) -> list[str]:
    """Every global symbol the portable kernels of both schemes define, by nm."""
    names: set[str] = set()
    folders = {path.parent for scheme in SCHEMES.values() for path in scheme.kernel_files}
    for folder in sorted(folders):
        for source in sorted(folder.glob("*.c")):
            obj = tmp_path / f"{folder.name}-{source.stem}.o"
            include = [f"-I{other}" for other in sorted(folders)]
            _ok(["gcc", "-O2", "-c", f"-I{folder}", *include, source, "-o", obj], tmp_path)
            listing = _ok(["nm", "-g", "--defined-only", obj], tmp_path)
            names.update(line.split()[-1] for line in listing.splitlines() if line.strip())
    return sorted(names)


def _second_cmsis_nn(tmp_path: Path) -> Path:
    """An object defining every unprefixed name the portable kernels have: each aborts,
    so a call that still reached it would end the runner."""
    names = _portable_symbols(tmp_path)
    assert {"arm_convolve_HWC_q7_fast", "arm_convolve_wrapper_s8", "arm_softmax_s8"} <= set(names)
    source = tmp_path / "vendor_cmsis_nn.c"
    source.write_text(
        "#include <stdlib.h>\n\n"
        + "".join(f"void {name}(void);\nvoid {name}(void) {{ abort(); }}\n" for name in names)
    )
    obj = tmp_path / "vendor_cmsis_nn.o"
    _ok(["gcc", "-O2", "-c", source, "-o", obj], tmp_path)
    return obj


@pytest.mark.host
@pytest.mark.parametrize("name", ["fashion-q7", "fashion-s8"])
def test_kernel_prefix_links_beside_a_second_cmsis_nn(name: str, tmp_path: Path) -> None:
    vendor = _second_cmsis_nn(tmp_path)
    plain = _generate(name, tmp_path / "plain")
    clash = _run(["make", "nn_host", f"LDLIBS={vendor}"], plain)
    assert clash.returncode != 0 and "multiple definition of `arm_" in clash.stderr
    project = _generate(name, tmp_path / "project", "--kernel-prefix", "nn2mcu_")
    kernels = sorted(path.name for path in (project / "kernels").iterdir())
    assert kernels and all(file.startswith("nn2mcu_") for file in kernels), kernels
    # a file that includes the vendor's header and the renamed one compiles
    both = tmp_path / "both.c"
    both.write_text(
        f'#include "{plain}/kernels/arm_nnfunctions.h"\n'
        '#include "nn2mcu_arm_nnfunctions.h"\n#include "nn.h"\n\n'
        "int both(void);\nint both(void) { return NN_OUTPUT_SIZE; }\n"
    )
    _ok(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", project, "-I",
         project / "kernels", "-c", both, "-o", tmp_path / "both.o"], tmp_path)  # fmt: skip
    result = nn2mcu(
        "verify", NETWORKS / name / "model.json", "--data", "fashion-mnist", "-n", 300,
        "--project", project, "--json", cwd=tmp_path, env={"LDLIBS": str(vendor)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"mismatches": 0' in result.stdout
    # the runner was linked with the vendor object: its unprefixed names are there
    _ok(["make", "nn_host", f"LDLIBS={vendor}"], project)
    symbols = _ok(["nm", project / "nn_host"], project)
    prefixed = re.findall(r" T (nn2mcu_arm_\w+)$", symbols, re.M)
    assert prefixed and all(
        re.search(rf" T {name.removeprefix('nn2mcu_')}$", symbols, re.M) for name in prefixed
    )


def test_kernel_prefix_is_refused_when_it_is_no_identifier(tmp_path: Path) -> None:
    for prefix in ("9x_", "my-", ""):
        result = nn2mcu(
            "generate", NETWORKS / "fashion-q7" / "model.json", "-o", tmp_path / "p",
            "--kernel-prefix", prefix, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2 and "--kernel-prefix" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "p").exists()


def _clang_projects(tmp_path: Path) -> list[Path]:
    """A q7 and an s8 Fashion-MNIST project with class names, and a raw-tensor TFLite one
    with a pixel table and logits."""
    tflite = Path(__file__).resolve().parents[1] / "frontends" / "tflite" / "fixtures"
    projects = [
        _generate(name, tmp_path / name, "--data", "fashion-mnist")
        for name in ("fashion-q7", "fashion-s8")
    ]
    result = nn2mcu(
        "generate", tflite / "residual.tflite", "-o", tmp_path / "residual", "--mean", 127.5,
        "--scale", "1/127.5", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [*projects, tmp_path / "residual"]


def _clang(project: Path, flags: list[str], target: bool) -> subprocess.CompletedProcess[str]:
    sources = ["nn.c", "weights.c", "main.c", *sorted(f"kernels/{p.name}" for p in
               (project / "kernels").glob("*.c"))]  # fmt: skip
    command = ["clang", "-std=c99", "-O2", "-Weverything", *flags, "-I.", "-Ikernels"]
    if target:
        command += [
            "--target=arm-none-eabi", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16", "-isystem", "/usr/lib/arm-none-eabi/include", "-Itarget",
            "-DNN_PROFILE", "-DNN_COUNTER_QEMU_TIMER0",
        ]  # fmt: skip
    return subprocess.run(
        [*command, "-fsyntax-only", *sources], cwd=project, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


@pytest.mark.host
def test_clang_weverything_warns_of_the_listed_warnings_only(tmp_path: Path) -> None:
    from nn2mcu.codegen.emit import CLANG_ALLOWED_WARNINGS

    require_tool("clang")
    allowed = [flag for flag, _ in CLANG_ALLOWED_WARNINGS]
    seen: set[str] = set()
    for project in _clang_projects(tmp_path):
        readme = (project / "README.md").read_text()
        assert all(f"`{flag}`" in readme for flag in allowed)
        for target in (False, True):
            strict = _clang(project, ["-Werror", *(f"-Wno-{f[2:]}" for f in allowed)], target)
            assert strict.returncode == 0, f"{project.name} (target {target}):\n{strict.stderr}"
            loose = _clang(project, [], target)
            assert loose.returncode == 0, loose.stderr
            seen.update(re.findall(r"\[(-W[\w-]+)\]", loose.stderr))
    # the list is no longer than it must be: each warning on it does occur
    assert seen == set(allowed), seen


@pytest.mark.host
def test_the_project_readme_describes_this_project(tmp_path: Path) -> None:
    project = _generate(
        "fashion-s8", tmp_path / "project", "--data", "fashion-mnist", "--kernel-prefix", "v_"
    )
    readme = (project / "README.md").read_text()
    program = _program("fashion-s8")
    for path in project.iterdir():
        if path.name != ".nn2mcu-project":
            shown = path.name + ("/" if path.is_dir() else "")
            assert f"| `{shown}` |" in readme, shown
    parameter = (project / "parameter.h").read_text()
    arena = re.search(r"#define NN_ARENA_SIZE (\d+)", parameter)
    assert arena is not None and f"{int(arena.group(1)):,} bytes of arena" in readme
    for call in program.calls:
        assert f"| `{call.layer.name}` | `v_{call.kernel.name}` |" in readme
    header = (project / "nn.h").read_text()
    for function in ("nn_preprocess", "nn_run", "nn_class_names"):
        assert function in header and f"`{function}" in readme, function
    # the network ends in its logits (no softmax): neither file offers probabilities
    assert "nn_probabilities" not in header and "nn_probabilities" not in readme
    assert "0 `T-shirt/top`" in readme and "9 `Ankle boot`" in readme
    assert "regenerate without `--kernel-prefix`" in readme
    logits = program.model.tensors[program.model.logits]
    assert f"real = {logits.scale!r} * (q + {-int(logits.zero_point)})" in readme


CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")
needs_cmsis_nn = pytest.mark.skipif(
    not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT (a CMSIS-NN v4+ tree) is not set"
)


@needs_cmsis_nn
@pytest.mark.host
def test_cmake_against_a_real_cmsis_nn_writes_the_simulators_bytes(tmp_path: Path) -> None:
    require_tool("cmake")
    project = tmp_path / "project"
    result = nn2mcu(
        "generate", NETWORKS / "fashion-s8" / "model.json", "-o", project, "--kernels", "cmsis",
        cwd=tmp_path, env={"CMSIS_NN_ROOT": str(CMSIS_NN_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (project / "kernels").exists()
    _ok(["cmake", "-S", project, "-B", project / "build"], tmp_path)
    _ok(["cmake", "--build", project / "build"], tmp_path)
    program = _program("fashion-s8")
    pixels = _images(300)
    got = run_host(project / "build" / "nn_host", pixels, record_size(program), tmp_path)
    assert got.tobytes() == expected_records(program.model, pixels).astype(np.int8).tobytes()


@needs_cmsis_nn
@pytest.mark.host
def test_kernel_prefix_links_beside_the_real_cmsis_nn(tmp_path: Path) -> None:
    """The vendor's case itself: CMSIS-NN's own sources in a library linked into the
    prefixed project, and one file that includes both CMSIS-NN's header and the renamed one."""
    root = Path(str(CMSIS_NN_ROOT))
    objects = []
    for source in sorted(root.glob("Source/*/*.c")):
        obj = tmp_path / "cmsis" / f"{source.stem}.o"
        obj.parent.mkdir(exist_ok=True)
        _ok(["gcc", "-O2", "-w", "-I", root / "Include", "-c", source, "-o", obj], tmp_path)
        objects.append(obj)
    library = tmp_path / "libcmsis-nn.a"
    _ok(["ar", "rcs", library, *objects], tmp_path)
    project = _generate("fashion-s8", tmp_path / "project", "--kernel-prefix", "nn2mcu_")
    both = tmp_path / "both.c"
    both.write_text(
        '#include "arm_nnfunctions.h"\n#include "nn2mcu_arm_nnfunctions.h"\n#include "nn.h"\n\n'
        "int both(void);\nint both(void)\n{\n"
        "    return arm_convolve_s8_get_buffer_size(0, 0) + NN_OUTPUT_SIZE;\n}\n"
    )
    _ok(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", root / "Include", "-I",
         project, "-I", project / "kernels", "-c", both, "-o", tmp_path / "both.o"],
        tmp_path)  # fmt: skip
    linked = f"{tmp_path / 'both.o'} {library} -Wl,--undefined=both"
    result = nn2mcu(
        "verify", NETWORKS / "fashion-s8" / "model.json", "--data", "fashion-mnist", "-n", 300,
        "--project", project, "--json", cwd=tmp_path, env={"LDLIBS": linked},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"mismatches": 0' in result.stdout


def test_the_repository_readme_shows_what_generate_writes(tmp_path: Path) -> None:
    """README.md's copy of the example project's README is what nn2mcu writes for it."""
    project = _generate("fashion-q7", tmp_path / "project", "--data", "fashion-mnist")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = re.search(
        r"<!-- generated project README: begin -->\n````markdown\n(.*?)````\n"
        r"<!-- generated project README: end -->",
        readme,
        re.S,
    )
    assert shown is not None
    assert shown.group(1) == (project / "README.md").read_text(), (
        "README.md's copy differs; paste the new project README between the markers"
    )
