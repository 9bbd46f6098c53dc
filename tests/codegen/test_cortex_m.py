"""The generated project on emulated Cortex-M4 (QEMU mps2-an386) and Cortex-M7
(mps2-an500): 0 mismatching bytes against the simulator, the ELF's arena and weights equal
to the plan with the weights in flash, deterministic instruction counts that add up, and
guest faults reported with the layer. These tests need arm-none-eabi-gcc and QEMU and fail
without them (scripts/setup installs them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.cortex_m import (
    TARGETS,
    build_target,
    memory_check,
    run_images,
    ticks_to_instructions,
)
from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import lower
from nn2mcu.datasets import load_dataset
from nn2mcu.modelfile import read_quantized
from nn2mcu.ops import Conv2D
from tests.codegen.conftest import TEST_IMAGES, Quantized, nn2mcu

pytestmark = pytest.mark.cortex_m

# what nn_run spends outside the kernel calls: copying the input and output, and the
# profile hook (a counter read and three stores per call)
OUTSIDE_CALLS = 2_000


@pytest.fixture(params=["arm_m4", "fashion_example"])
def example(request: pytest.FixtureRequest) -> Quantized:
    quantized: Quantized = request.getfixturevalue(request.param)
    return quantized


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
def test_example_networks_verify_on_the_target(
    example: Quantized, target: str, tmp_path: Path
) -> None:
    result = nn2mcu(
        "verify", example.model, "--data", example.data, "--target", target, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == TEST_IMAGES and summary["mismatches"] == 0
    assert summary["accuracy"] > 0.5
    assert summary["arena_symbol_bytes"] == summary["arena_bytes"]
    assert summary["weight_symbol_bytes"] == summary["weight_bytes"]
    assert summary["mean_symbol_bytes"] == summary["mean_bytes"]  # per-pixel means here
    assert summary["weights_in_flash"] is True
    assert summary["data"] < 1024  # newlib's few variables; no weights in RAM
    assert summary["instructions_per_inference"] > 0
    for entry in summary["per_layer"]:
        assert entry["instructions"] > 0
        if entry["kernel"].startswith("arm_convolve"):
            assert entry["instructions"] >= entry["macs"] // 2, entry
    layers = sum(entry["instructions"] for entry in summary["per_layer"])
    assert (
        0
        <= summary["instructions_per_inference"] - layers
        <= OUTSIDE_CALLS + 2 * len(summary["per_layer"])
    )


def test_counts_are_deterministic_and_add_up(arm_m4: Quantized, tmp_path: Path) -> None:
    model = read_quantized(arm_m4.model)
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    target = TARGETS["cortex-m4"]
    elf = build_target(tmp_path / "project", target)
    assert memory_check(program, elf) == {
        "arena_symbol_bytes": program.arena_size,
        "weight_symbol_bytes": 36_282 - 3_072,
        "mean_symbol_bytes": 3_072,  # a per-pixel mean, 32 x 32 x 3
        "weights_in_flash": True,
    }
    pixels = load_dataset(str(arm_m4.data)).test.images[:20]
    first = run_images(program, elf, target, pixels, tmp_path)
    second = run_images(program, elf, target, pixels, tmp_path)
    assert np.array_equal(first.ticks, second.ticks)
    assert np.array_equal(first.outputs, second.outputs)
    counts = ticks_to_instructions(first.ticks)
    per_call = ticks_to_instructions(first.ticks[:, 1:]).sum(axis=1)
    # each call's count is floored on its own: up to 1 instruction lost per call
    assert np.all(counts[:, 0] - per_call >= 0)
    assert np.all(counts[:, 0] - per_call <= OUTSIDE_CALLS + 2 * len(program.calls))
    graph = model.graph
    for index, call in enumerate(program.calls):
        if isinstance(call.layer.op, Conv2D):
            macs = call.layer.op.macs(graph.input_shapes(call.layer), graph.shapes[call.layer.name])
            assert counts[:, 1 + index].min() >= macs // 2, call.layer.name


def test_a_guest_fault_names_the_layer(fashion_example: Quantized, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert nn2mcu("generate", fashion_example.model, "-o", project, cwd=tmp_path).returncode == 0
    source = project / "nn.c"
    text = source.read_text()
    # the inner product reads its input from an address where no memory is
    broken, count = re.subn(
        r"arm_fully_connected_q7_opt\(nn_arena \+ \w+_OFFSET,",
        "arm_fully_connected_q7_opt((const q7_t *)0xF0000000u,",
        text,
    )
    assert count == 1
    source.write_text(broken)
    result = nn2mcu(
        "verify", fashion_example.model, "--data", fashion_example.data, "--target", "cortex-m4",
        "--project", project, "-n", 3, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert re.search(
        r"nn2mcu: verify: cortex-m4: the program failed \(exit 126\): nn2mcu: \w+Fault at pc "
        r"0x[0-9a-f]+ in kernel call \d+ \(layer 'ip1', arm_fully_connected_q7_opt\)",
        result.stderr,
    ), result.stderr


def test_one_changed_weight_byte_is_traced_on_the_target(
    fashion_example: Quantized, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    assert nn2mcu("generate", fashion_example.model, "-o", project, cwd=tmp_path).returncode == 0
    weights = project / "weights.c"
    text = weights.read_text()
    match = re.search(r"NN_ALIGN4 const \w+ conv2_wt\[\d+\] = \{\n    (-?\d+)", text)
    assert match is not None
    value = int(match.group(1))
    changed = str(value + 1 if value < 127 else value - 1)
    weights.write_text(text[: match.start(1)] + changed + text[match.end(1) :])
    result = nn2mcu(
        "verify", fashion_example.model, "--data", fashion_example.data, "--target", "cortex-m7",
        "--project", project, "--trace", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mismatches"] > 0
    assert (summary["trace"]["layer"], summary["trace"]["kernel"]) == (
        "conv2",
        "arm_convolve_HWC_q7_fast",
    )


def test_sanitize_is_for_the_host(fashion_example: Quantized, tmp_path: Path) -> None:
    result = nn2mcu(
        "verify", fashion_example.model, "--data", fashion_example.data, "--target", "cortex-m4",
        "--sanitize", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--sanitize is for --target host" in result.stderr


def test_the_plain_c_path_gives_the_same_bytes_on_the_target(
    arm_m4: Quantized, tmp_path: Path
) -> None:
    """The portable kernels' ACLE (SMLAD) path and their plain C path, both on the M4."""
    program = lower(read_quantized(arm_m4.model))
    target = TARGETS["cortex-m4"]
    pixels = load_dataset(str(arm_m4.data)).test.images[:30]
    outputs = []
    for flags in ("-O2", "-O2 -DNN2MCU_NO_SIMD"):
        project = tmp_path / f"project{len(outputs)}"
        generate_atomically(program, project)
        elf = build_target(project, target, flags)
        outputs.append(run_images(program, elf, target, pixels, tmp_path))
    assert np.array_equal(outputs[0].outputs, outputs[1].outputs)
    simd, plain = (int(np.median(ticks_to_instructions(run.ticks[:, 0]))) for run in outputs)
    assert simd < plain  # and the intrinsics were really used
