"""s8 code generation: random small networks (square, non-square, 1x1 and depthwise
convolutions, both pools, per-channel inner products, softmax) and the Fashion-MNIST example
through the s8 quantizer and the generated C on the host under ASan/UBSan and on emulated
Cortex-M4/M7: 0 mismatching bytes, no layer passing trivially. With CMSIS_NN_ROOT set, the
same against a real CMSIS-NN."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.cortex_m import TARGETS, build_target, memory_check, run_images
from nn2mcu.codegen.host import build_host, compare_outputs, generate_atomically, verify_host
from nn2mcu.codegen.lower import lower, weight_bytes
from nn2mcu.datasets import Dataset
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph, Layer
from nn2mcu.modelfile import read_quantized, write_quantized
from nn2mcu.ops import Pool2D, PoolMethod, ReLU
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.s8.model import S8Model
from nn2mcu.simulate import simulate
from tests.codegen.conftest import Quantized, nn2mcu
from tests.codegen.test_random_nets import SANITIZE, dataset_for, random_net

SEEDS = range(6)
CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")
needs_cmsis_nn = pytest.mark.skipif(
    not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT (a CMSIS-NN v4+ tree) is not set"
)


@pytest.fixture(scope="module")
def quantized() -> dict[int, tuple[S8Model, Dataset]]:
    nets = {}
    for seed in SEEDS:
        graph = random_net(seed)
        data = dataset_for(graph, seed)
        nets[seed] = (quantize_s8(graph, data, calibration=600).model, data)
    return nets


def _nontrivial(model: S8Model, data: Dataset) -> None:
    values = simulate(model, data.test.images)
    for name in model.weighted:
        layer_values = values[name]
        assert len(np.unique(layer_values)) >= 16, f"{name} has too few distinct values"
        saturated = np.mean((layer_values == -128) | (layer_values == 127))
        assert saturated < 0.05, f"{name}: {saturated:.1%} saturated"


@pytest.mark.host
@pytest.mark.parametrize("seed", SEEDS)
def test_random_net_is_bit_exact_on_the_host(
    seed: int, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    _nontrivial(model, data)
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    binary = build_host(tmp_path / "project", SANITIZE)
    result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    assert result.images == 200 and result.mismatches == 0


def test_the_random_nets_meet_every_kernel(quantized: dict[int, tuple[S8Model, Dataset]]) -> None:
    """Every function CMSIS-NN's wrappers dispatch to (the reasons of the plan for a
    user's CMSIS), and the portable kernels' main paths (the portable plan's)."""
    seen = {
        (call.kernel.name, call.kernel.reason.split(":")[0])
        for model, _ in quantized.values()
        for call in lower(model, "cmsis").calls
    }
    portable = {
        call.kernel.reason.split(",")[0].split(";")[0]
        for model, _ in quantized.values()
        for call in lower(model).calls
    }
    assert {
        "portable: four pixels at a time through int16 columns",
        "portable: four channels at a time over every pixel",
        "portable: four rows at a time",
    } <= portable, sorted(portable)
    expected = {
        ("arm_convolve_wrapper_s8", "-> arm_convolve_s8"),
        ("arm_convolve_wrapper_s8", "-> arm_convolve_1x1_s8_fast"),
        ("arm_depthwise_conv_wrapper_s8", "-> arm_depthwise_conv_3x3_s8"),
        (
            "arm_fully_connected_per_channel_s8",
            "inner product, per-channel scales; the input offset folded into the bias",
        ),
        ("arm_max_pool_s8", "max pooling"),
        ("arm_avgpool_s8", "average pooling (in-bounds count)"),
        ("arm_softmax_s8", "softmax (second output)"),
    }
    assert expected <= seen, sorted(expected - seen)


@pytest.mark.cortex_m
@pytest.mark.parametrize(
    ("seed", "target"),
    [(seed, "cortex-m4") for seed in SEEDS] + [(0, "cortex-m7"), (3, "cortex-m7")],
)
def test_random_net_is_bit_exact_on_cortex_m(
    seed: int, target: str, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    board = TARGETS[target]
    elf = build_target(tmp_path / "project", board)
    run = run_images(program, elf, board, data.test.images, tmp_path)
    result = compare_outputs(program, run.outputs, data.test.images, data.test.labels)
    assert result.images == 200 and result.mismatches == 0
    check = memory_check(program, elf)
    assert check["arena_symbol_bytes"] == program.arena_size
    assert check["weight_symbol_bytes"] == weight_bytes(program)
    assert check["weights_in_flash"] is True


@pytest.mark.host
def test_single_rounding_and_pow2_are_bit_exact(tmp_path: Path) -> None:
    """CMSIS_NN_USE_SINGLE_ROUNDING reaches the Makefile; --pow2 gives multipliers of 2^30."""
    graph = random_net(1)
    data = dataset_for(graph, 1)
    model = quantize_s8(graph, data, calibration=600, single_rounding=True, pow2=True).model
    for layer in model.weighted.values():
        assert set(layer.multiplier.tolist()) == {2**30}
    assert model.input_multiplier == 2**30
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    assert "-DCMSIS_NN_USE_SINGLE_ROUNDING" in (tmp_path / "project" / "Makefile").read_text()
    binary = build_host(tmp_path / "project", SANITIZE)
    result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    assert result.mismatches == 0
    # the same C with the other rounding differs somewhere: the define is what makes it exact
    double = dataclasses.replace(model, single_rounding=False)
    assert any(
        not np.array_equal(first, second)
        for first, second in zip(
            simulate(double, data.test.images).values(),
            simulate(model, data.test.images).values(),
            strict=True,
        )
    )


def test_model_file_round_trip(
    tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[0]
    weights = tmp_path / "float.caffemodel.h5"
    weights.write_bytes(b"stand-in for the float weights' hash")
    path = tmp_path / "model.json"
    write_quantized(model, path, calibration={}, weights_file=weights, report={})
    again = read_quantized(path)
    first, second = simulate(model, data.test.images), simulate(again, data.test.images)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[name], second[name]) for name in first)
    assert again.fused == model.fused and again.pool_activation == model.pool_activation


def test_average_pool_with_padding_is_refused() -> None:
    graph = random_net(0)
    layers = list(graph.layers)
    index = next(i for i, layer in enumerate(layers) if isinstance(layer.op, ReLU))
    pool = Layer("padpool", Pool2D(method=PoolMethod.AVE, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1)),
                 (layers[index].name,))  # fmt: skip
    after = layers[index + 1]
    layers[index + 1 : index + 2] = [pool, Layer(after.name, after.op, ("padpool",), after.weights)]
    padded = Graph("padded", tuple(layers))
    with pytest.raises(InputError, match=r"'padpool'.*pad 1,1: average pooling with padding"):
        quantize_s8(padded, dataset_for(padded, 0), calibration=100)


@pytest.fixture(scope="module")
def fashion_s8(fashion_example: Quantized, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Fashion-MNIST example quantized with quantize --scheme s8."""
    float_model = json.loads(fashion_example.model.read_text())["float_weights"]["path"]
    root = tmp_path_factory.mktemp("fashion_s8")
    out = root / "s8.json"
    net = fashion_example.model.parent / "fashion.prototxt"
    result = nn2mcu(
        "quantize", net, "--weights", float_model, "--data", fashion_example.data,
        "--scheme", "s8", "--calibration", 500, "-o", out, cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "s8 accuracy" in result.stdout
    return out


@pytest.mark.cortex_m
def test_fashion_example_from_the_command_line(
    fashion_example: Quantized, fashion_s8: Path, tmp_path: Path
) -> None:
    """quantize --scheme s8, then verify on the host (ASan) and on the M4, with --json."""
    out = fashion_s8
    for target in ("host", "cortex-m4"):
        extra = ["--sanitize"] if target == "host" else []
        result = nn2mcu(
            "verify", out, "--data", fashion_example.data, "--target", target, "-n", 200,
            "--json", *extra, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["images"] == 200 and summary["mismatches"] == 0
        assert summary["accuracy"] > 0.6
    assert summary["instructions_per_inference"] > 0
    assert summary["weight_symbol_bytes"] == summary["weight_bytes"]
    kernels = {entry["kernel"] for entry in summary["per_layer"]}
    assert "arm_convolve_wrapper_s8" in kernels and "arm_avgpool_s8" in kernels
    result = nn2mcu("generate", out, "-o", tmp_path / "compat", "--compat",
                    "cmsis-cifar10-example", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "needs a q7 model" in result.stderr
    assert not (tmp_path / "compat").exists()


@pytest.mark.cortex_m
@needs_cmsis_nn
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_net_against_real_cmsis_nn(
    seed: int, target: str, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    program = lower(model, "cmsis")
    root = Path(str(CMSIS_NN_ROOT))
    generate_atomically(program, tmp_path / "project", "cmsis", root)
    if target == "host":
        # not under UBSan: CMSIS-NN v7.0.0's softmax exp left-shifts negative values
        binary = build_host(tmp_path / "project", "-O2")
        result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    else:
        board = TARGETS[target]
        elf = build_target(tmp_path / "project", board)
        run = run_images(program, elf, board, data.test.images, tmp_path)
        result = compare_outputs(program, run.outputs, data.test.images, data.test.labels)
    assert result.images == 200 and result.mismatches == 0


@pytest.mark.cortex_m
@needs_cmsis_nn
def test_fashion_example_against_real_cmsis_nn(
    fashion_example: Quantized, fashion_s8: Path, tmp_path: Path
) -> None:
    out = fashion_s8
    for target in ("host", "cortex-m4"):
        result = nn2mcu(
            "verify", out, "--data", fashion_example.data, "--target", target, "-n", 200,
            "--kernels", "cmsis", "--json", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["mismatches"] == 0
