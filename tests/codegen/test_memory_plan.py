"""The static memory plan (nn2mcu.codegen.lower): buffers live together never share bytes,
except an output laid over an input that dies at its call, which starts at least the
binding's lead before that input (the kernels' side is tests/s8/test_portable_kernels.py,
test_outputs_laid_over_their_inputs); the plan for a user's CMSIS lays nothing over
anything. On the MLPerf Tiny models as they are."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nn2mcu.codegen.emit import project_files
from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import Program, lower
from nn2mcu.modelfile import read_model
from tests.frontends.tflite.test_mlperf_tiny import MODELS, model_path

CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")


def _check(program: Program) -> None:
    buffers = list(program.buffers.values())
    laid = {(o.source, o.output): o.lead for o in program.overlays}
    for buffer in buffers:
        assert buffer.offset >= 0 and buffer.offset % 4 == 0, buffer
    assert program.arena_size == max(b.offset + b.size for b in buffers)
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if not (a.first <= b.last and b.first <= a.last):
                continue
            if a.offset + a.size <= b.offset or b.offset + b.size <= a.offset:
                continue
            pair = (a.name, b.name) if (a.name, b.name) in laid else (b.name, a.name)
            assert pair in laid, f"{a.name} and {b.name} are live together and overlap"
            source, output = (program.buffers[name] for name in pair)
            assert output.offset <= source.offset - laid[pair], pair
    for overlay in program.overlays:
        call = program.calls[overlay.call]
        assert overlay.source in call.inputs and overlay.output == call.output
        assert program.buffers[overlay.source].last == overlay.call  # it dies there


@pytest.mark.parametrize("name", MODELS)
def test_the_plans_of_the_mlperf_tiny_models(name: str) -> None:
    model = read_model(model_path(name))
    portable, cmsis = lower(model), lower(model, "cmsis")
    _check(portable)
    _check(cmsis)
    assert cmsis.overlays == []
    assert portable.arena_size <= cmsis.arena_size
    if portable.overlays:  # each one is needed: without it the arena grows
        assert portable.arena_size < cmsis.arena_size


def test_overlays_bring_the_visual_wake_words_arena_below_its_largest_pair() -> None:
    """MobileNetV1's largest pointwise pair (48 x 48 x 8 in, 48 x 48 x 16 out) alone needs
    55,296 bytes side by side; laid over each other, with the first convolution's output
    over the input and the first stride-2 depthwise's over its input, the arena is below
    45,000 bytes."""
    model = read_model(model_path("vww_96_int8"))
    program = lower(model)
    assert lower(model, "cmsis").arena_size >= 55_296
    assert program.arena_size <= 45_000
    laid = {program.calls[o.call].layer.name: o.source for o in program.overlays}
    assert laid["conv2"] == "dwconv1" and laid["conv1"] == program.input_buffer


def test_a_plan_with_overlays_is_refused_for_a_users_cmsis(tmp_path: Path) -> None:
    """A plan only the portable kernels run (outputs over inputs; nn2mcu's own inner
    product) is refused for a user's CMSIS, and its nn.c stops at an #error when built
    against one; a plan lowered for CMSIS has neither."""
    model = read_model(model_path("ad01_int8"))
    program = lower(read_model(model_path("vww_96_int8")))
    with pytest.raises(ValueError, match="kernels='cmsis'"):
        project_files(program, "cmsis", tmp_path)
    files = project_files(program)
    assert "#error" in files["nn.c"] and "NN2MCU_S8_ARM_NNFUNCTIONS_H" in files["nn.c"]
    assert "outputs laid over inputs that die" in files["nn.c"]
    assert "--kernels cmsis" in files["README.md"]
    assert "laid over" in files["nn.c"]
    portable = lower(model)  # nothing laid over anything, but nn2mcu's own inner product
    assert not portable.overlays and portable.portable_only == ["nn2mcu_fully_connected_s8"]
    with pytest.raises(ValueError, match="nn2mcu_fully_connected_s8"):
        project_files(portable, "cmsis", tmp_path)
    assert "#error" in project_files(portable)["nn.c"]
    plain = project_files(lower(model, "cmsis"))  # CMSIS-NN's functions only: no guard
    assert "#error" not in plain["nn.c"]


@pytest.mark.skipif(not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT (a CMSIS-NN v7+ tree) is not set")
def test_the_overlaid_nn_c_does_not_build_against_stock_cmsis_nn(tmp_path: Path) -> None:
    """Compiled with CMSIS-NN's own headers instead of kernels/, the nn.c of an overlaid
    plan stops at its #error rather than run kernels whose order nobody checked."""
    program = lower(read_model(model_path("vww_96_int8")))
    generate_atomically(program, tmp_path / "p")
    root = Path(str(CMSIS_NN_ROOT))
    build = subprocess.run(
        ["gcc", "-std=c99", "-c", "nn.c", "-I.", f"-I{root / 'Include'}", "-o", "nn.o"],
        cwd=tmp_path / "p", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode != 0 and "needs nn2mcu's portable kernels" in build.stderr, build.stderr
    assert "outputs laid over inputs that die" in build.stderr
