"""nn2mcu's portable s8 kernels (src/nn2mcu/kernels/s8) against the kernel models, which
match a real CMSIS-NN (test_kernels_vs_cmsis_nn.py): the same random cases through the
same harness, built with -Wall -Wextra -Werror under AddressSanitizer and UBSan, in both
rounding modes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.cortex_m import TARGETS, run_qemu
from nn2mcu.ops.conv2d import s8_convolution_scratch
from nn2mcu.ops.depthwise_conv2d import s8_depthwise_scratch
from tests.s8.cases import ASYMMETRIC, HARNESS, KINDS, run_cases

KERNELS = Path(__file__).resolve().parents[2] / "src" / "nn2mcu" / "kernels" / "s8"
SIMD = KERNELS.parent / "q7"  # nn2mcu_simd.h, shared with the q7 kernels
MPS2 = KERNELS.parents[1] / "targets" / "mps2"
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


@pytest.fixture(scope="module", params=[False, True], ids=["default", "single-rounding"])
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, bool]:
    binary = tmp_path_factory.mktemp("s8_kernels") / "harness"
    flags = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if request.param else []
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE, *flags, f"-I{KERNELS}", f"-I{SIMD}",
         str(HARNESS), *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    return binary, request.param


@pytest.mark.kernel
@pytest.mark.parametrize("kind", list(KINDS))
def test_portable_kernel_matches_the_model(harness: tuple[Path, bool], kind: str) -> None:
    binary, single_rounding = harness
    run_cases(binary, KINDS[kind], 150, 2000 + KINDS[kind], single_rounding)


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["conv", "depthwise"])
@pytest.mark.parametrize("divisor", [2, 1 << 20], ids=["two-columns", "no-buffer"])
def test_convolutions_with_a_smaller_buffer(tmp_path: Path, divisor: int, kind: str) -> None:
    """The convolution given half the buffer its *_get_buffer_size asks (two columns, what
    CMSIS-NN's own sizing gives: two pixels at a time; the padded filters' copy left out)
    or none (the general path); the depthwise convolution without its staging buffer (its
    border path)."""
    binary = tmp_path / "harness"
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE,
         f"-DHARNESS_CONV_BUFFER_DIVISOR={divisor}", f"-I{KERNELS}", f"-I{SIMD}", str(HARNESS),
         *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    run_cases(binary, KINDS[kind], 150, 6000 + divisor % 97 + KINDS[kind])


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["conv", "depthwise", "max", "avg"])
@pytest.mark.parametrize("geometry", list(ASYMMETRIC))
def test_asymmetric_padding(harness: tuple[Path, bool], kind: str, geometry: str) -> None:
    """Paddings that differ between the two sides of an axis (the output size carries the
    bottom and right padding)."""
    binary, single_rounding = harness
    run_cases(binary, KINDS[kind], 10, 77, single_rounding, ASYMMETRIC[geometry])


OVERLAID = [
    "conv",
    "depthwise",
    "max",
    "avg",
    "add",
]  # the kernels whose output nn2mcu may lay over an input


@pytest.mark.kernel
@pytest.mark.parametrize("kind", OVERLAID)
def test_outputs_laid_over_their_inputs(tmp_path: Path, kind: str) -> None:
    """Each output in one buffer with the input it overwrites, starting the lead before it
    that nn2mcu's memory plan takes (s8_convolution_lead, s8_depthwise_lead, s8_pool_lead,
    0 for the add): the kernels read every byte before they overwrite it."""
    binary = tmp_path / "harness"
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE, "-DHARNESS_OVERLAY",
         f"-I{KERNELS}", f"-I{SIMD}", str(HARNESS), *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    run_cases(binary, KINDS[kind], 200, 8000 + KINDS[kind], overlay=True)


def _m4_harness(elf: Path, *flags: str) -> Path:
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    build = subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
         "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{KERNELS}", f"-I{SIMD}",
         f"-I{MPS2}", str(HARNESS), *sources, str(MPS2 / "startup.c"), "-T", str(MPS2 / "mps2.ld"),
         "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections", "-o",
         str(elf)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    return elf


def _on_m4(elf: Path, directory: Path) -> Callable[[bytes], bytes]:
    def run(payload: bytes) -> bytes:
        (directory / "cases.bin").write_bytes(payload)
        run_qemu(elf, TARGETS["cortex-m4"], ["cases.bin", "out.bin"], directory, 600)
        return (directory / "out.bin").read_bytes()

    return run


@pytest.fixture(scope="module")
def m4_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness and the kernels built for the Cortex-M4 (DSP extension: the SIMD and
    assembly paths) as the generated projects build them, to run under QEMU."""
    return _m4_harness(tmp_path_factory.mktemp("s8_kernels_m4") / "harness.elf")


@pytest.mark.cortex_m
@pytest.mark.parametrize("kind", ["conv", "depthwise"])
def test_convolutions_without_a_buffer_on_cortex_m4(tmp_path: Path, kind: str) -> None:
    """test_convolutions_with_a_smaller_buffer's no-buffer case where the DSP and assembly
    paths run (the depthwise border path and interior runs over the image itself)."""
    elf = _m4_harness(tmp_path / "harness.elf", f"-DHARNESS_CONV_BUFFER_DIVISOR={1 << 20}")
    run_cases(elf, KINDS[kind], 60, 7000 + KINDS[kind], runner=_on_m4(elf, tmp_path))


@pytest.mark.cortex_m
@pytest.mark.parametrize("kind", OVERLAID)
def test_outputs_laid_over_their_inputs_on_cortex_m4(tmp_path: Path, kind: str) -> None:
    """test_outputs_laid_over_their_inputs where the DSP and assembly paths run."""
    elf = _m4_harness(tmp_path / "harness.elf", "-DHARNESS_OVERLAY")
    run_cases(elf, KINDS[kind], 80, 9000 + KINDS[kind], runner=_on_m4(elf, tmp_path), overlay=True)


@pytest.mark.cortex_m
@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc", "fc-per-channel", "fc-blocks", "add"])
def test_portable_kernel_on_cortex_m4_matches_the_model(
    m4_harness: Path, tmp_path: Path, kind: str
) -> None:
    """The same random cases on the emulated Cortex-M4, where the kernels take their DSP
    paths (dual 16-bit MACs, the depthwise window in assembly)."""
    run_cases(m4_harness, KINDS[kind], 60, 4000 + KINDS[kind], runner=_on_m4(m4_harness, tmp_path))


@pytest.mark.cortex_m
def test_portable_kernels_build_for_cortex_m4_without_warnings(tmp_path: Path) -> None:
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    for source in sources:
        build = subprocess.run(
            ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
             "-mfpu=fpv4-sp-d16", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS}",
             f"-I{SIMD}", "-c", source, "-o", str(tmp_path / (Path(source).stem + ".o"))],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert build.returncode == 0, build.stderr


@pytest.mark.kernel
def test_the_planned_scratch_is_what_the_convolution_asks(tmp_path: Path) -> None:
    """The scratch buffer nn2mcu's memory plan gives a convolution or depthwise convolution
    (s8_convolution_scratch, s8_depthwise_scratch) equals what the portable kernel's
    get_buffer_size asks, so
    that the kernel takes the path it was sized for (and more only where stock CMSIS-NN
    asks more)."""
    binary = tmp_path / "buffer_sizes"
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS}", f"-I{SIMD}",
         str(Path(__file__).with_name("buffer_sizes.c")), *sorted(str(p) for p in KERNELS.glob("*.c")),
         "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    rng = np.random.default_rng(12)
    rows = []
    for _ in range(400):
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        if rng.random() < 0.3:
            kh = kw = 1
        sy, sx = (int(v) for v in rng.integers(1, 3, 2))
        py, px = (
            (int(rng.integers(0, kh)), int(rng.integers(0, kw))) if rng.random() < 0.6 else (0, 0)
        )
        ch_in = int(rng.choice([1, 2, 3, 4, 8, 12, 16, 30]))
        ch_out = int(rng.integers(1, 40))
        offset = int(rng.choice([0, 0, -128, 128, 129, 5]))
        rows.append((kh, kw, sy, sx, py, px, ch_in, ch_out, offset))
    text = "".join("0 " + " ".join(map(str, row)) + "\n" for row in rows)
    text += "".join("1 " + " ".join(map(str, row)) + "\n" for row in rows)
    run = subprocess.run([str(binary)], input=text, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    asked = [int(line) for line in run.stdout.split()]
    depthwise = asked[len(rows) :]
    for (kh, kw, sy, sx, _, _, ch, _, offset), size in zip(rows, depthwise, strict=True):
        planned = s8_depthwise_scratch((kh, kw), (sy, sx), (8, 8), ch, 1, offset)
        assert planned == size, ("depthwise", kh, kw, sy, sx, ch, offset)
    assert any(depthwise) and not all(depthwise)  # staged and not
    asked = asked[: len(rows)]
    for (kh, kw, sy, sx, py, px, ch_in, ch_out, offset), size in zip(rows, asked, strict=True):
        planned = s8_convolution_scratch((kh, kw), (sy, sx), (py, px, 0, 0), ch_in, ch_out, offset)
        fast_1x1 = (kh, kw, sy, sx, py, px, ch_in, offset) == (1, 1, 1, 1, 0, 0, 8, 0)
        # the one excess: CMSIS-NN's own 1x1 fast kernel asks 2 * ch_in int16 (Arm Compiler 6)
        assert planned == (4 * ch_in if fast_1x1 else size), (kh, kw, sy, sx, py, px, ch_in, ch_out)
    assert any(size % 8 for size in asked)  # padded filter copies among them


@pytest.mark.kernel
def test_unsupported_arguments_are_argument_errors(tmp_path: Path) -> None:
    """A grouped convolution (fewer filter channels than input channels) and pooling with a
    batch below 1 return ARM_CMSIS_NN_ARG_ERROR, as CMSIS-NN does for what it refuses,
    instead of success after reading past the weights or doing nothing."""
    binary = tmp_path / "argument_checks"
    sources = sorted(str(p) for p in KERNELS.glob("*.c"))
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE, f"-I{KERNELS}", f"-I{SIMD}",
         str(Path(__file__).with_name("argument_checks.c")), *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.kernel
def test_requantization_equals_its_textbook_form(tmp_path: Path) -> None:
    """nn2mcu_requantize (double rounding) against CMSIS-NN's remainder-and-threshold form in
    plain 64-bit arithmetic: every edge value pair and 20 million random arguments, under
    UBSan, with the compiler's arithmetic shifts and with the portable ones."""
    source = Path(__file__).with_name("requantize_check.c")
    for flags in ([], ["-DNN2MCU_PORTABLE_SHIFTS"]):
        binary = tmp_path / "requantize_check"
        build = subprocess.run(
            ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
             "-fno-sanitize-recover=all", *flags, f"-I{KERNELS}", str(source), "-o", str(binary)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert build.returncode == 0, build.stderr
        result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and " 0 of " in f" {result.stdout}", result.stdout
