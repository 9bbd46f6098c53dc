"""Random small networks through the real quantizer and the generated C, on the host
under ASan/UBSan and on emulated Cortex-M4 and M7: 0 mismatching bytes on 200 images each, every kernel variant of the
table met, and no layer passing trivially (>= 16 distinct output values, < 5 % saturated).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from nn2mcu.codegen.cortex_m import TARGETS, build_target, memory_check, run_images
from nn2mcu.codegen.host import build_host, compare_outputs, generate_atomically, verify_host
from nn2mcu.codegen.lower import lower, weight_bytes
from nn2mcu.datasets import Dataset, Split
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    Preprocessing,
    ReLU,
    Softmax,
)
from nn2mcu.q7.model import AverageVariant, Q7Model
from nn2mcu.quant.q7.quantize import QuantizeOptions, quantize_q7
from nn2mcu.simulate import simulate
from nn2mcu.torch_net import TorchNet

SANITIZE = "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
SEEDS = range(6)


def random_net(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(8, 13))
    channels = int(rng.choice([1, 3, 4, 8]))
    shape = Shape(size, size, channels)
    prep = Preprocessing(mean_values=(128.0,), scale=1 / 64)
    layers = [Layer("data", Input(shape=shape, preprocessing=prep))]
    previous = "data"

    def add(name: str, op: object, weights: dict[str, np.ndarray] | None = None) -> None:
        nonlocal previous, shape
        layers.append(Layer(name, op, (previous,), weights or {}))  # type: ignore[arg-type]
        shape = op.output_shape([shape])  # type: ignore[attr-defined]
        previous = name

    for index in range(int(rng.integers(2, 4))):
        kind = rng.choice(["square", "nonsquare", "1x1"])
        out = int(rng.choice([2, 4, 5, 6, 8]))
        if kind == "square":
            k = int(rng.integers(1, 4))
            op = Conv2D(out_channels=out, kernel=(k, k), pad=(k // 2, k // 2, k // 2, k // 2))
        elif kind == "nonsquare":
            ky, kx = (3, 1) if rng.random() < 0.5 else (1, 3)
            op = Conv2D(out_channels=out, kernel=(ky, kx), pad=(ky // 2, kx // 2, ky // 2, kx // 2))
        else:
            op = Conv2D(out_channels=out, kernel=(1, 1))
        fan_in = op.kernel[0] * op.kernel[1] * shape.c
        weights = {"weight": rng.normal(0, 1.5 / np.sqrt(fan_in), (out, *op.kernel, shape.c)),
                   "bias": rng.normal(0, 0.1, out)}  # fmt: skip
        add(f"conv{index}", op, weights)
        if rng.random() < 0.7:
            add(f"relu{index}", ReLU())
        if shape.h >= 4 and rng.random() < 0.6:
            method = PoolMethod.MAX if rng.random() < 0.5 else PoolMethod.AVE
            k = int(rng.integers(2, 4))
            add(f"pool{index}", Pool2D(method=method, kernel=(k, k), stride=(2, 2)))
    if seed % 2 == 0 and shape.c % 2 == 0:  # the depthwise kernels need an even channel count
        weights = {
            "weight": rng.normal(0, 0.5, (1, 3, 3, shape.c)),
            "bias": rng.normal(0, 0.1, shape.c),
        }
        add("dw", DepthwiseConv2D(kernel=(3, 3), pad=(1, 1, 1, 1)), weights)
    add("flat", Flatten())
    hidden = int(rng.integers(6, 16))
    add(
        "ip1",
        FullyConnected(out_features=hidden),
        {
            "weight": rng.normal(0, 1.5 / np.sqrt(shape.c), (hidden, shape.c)),
            "bias": rng.normal(0, 0.1, hidden),
        },
    )
    add("relu_ip", ReLU())
    add(
        "ip2",
        FullyConnected(out_features=6),
        {
            "weight": rng.normal(0, 1.5 / np.sqrt(hidden), (6, hidden)),
            "bias": rng.normal(0, 0.1, 6),
        },
    )
    add("prob", Softmax())
    return Graph(f"random{seed}", tuple(layers))


def dataset_for(graph: Graph, seed: int, *, logits: str = "ip2", offset: int = 100) -> Dataset:
    """Random images (from seed ``offset + seed``) labelled by the float network itself, by
    the argmax of layer ``logits``."""
    rng = np.random.default_rng(offset + seed)
    shape = graph.shapes["data"]
    images = rng.integers(0, 256, (800, shape.h, shape.w, shape.c), dtype=np.uint8)
    net = TorchNet(graph).eval()
    with torch.no_grad():
        x = torch.from_numpy(((images.astype(np.float32) - 128) / 64).transpose(0, 3, 1, 2).copy())
        labels = net(x, outputs=[logits])[logits].reshape(800, -1).argmax(dim=1).numpy()
    return Dataset(graph.name, Split(images[:600], labels[:600]), Split(images[600:], labels[600:]),
                   tuple(str(i) for i in range(6)))  # fmt: skip


@pytest.fixture(scope="module")
def quantized() -> dict[int, tuple[Q7Model, Dataset]]:
    nets = {}
    for seed in SEEDS:
        graph = random_net(seed)
        data = dataset_for(graph, seed)
        nets[seed] = (quantize_q7(graph, data, QuantizeOptions(calibration=600)).model, data)
    return nets


@pytest.mark.host
@pytest.mark.parametrize("seed", SEEDS)
def test_random_net_is_bit_exact_in_c(
    seed: int, tmp_path: Path, quantized: dict[int, tuple[Q7Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    values = simulate(model, data.test.images)
    for name in model.weighted:
        layer_values = values[name]
        assert len(np.unique(layer_values)) >= 16, f"{name} has too few distinct values"
        saturated = np.mean((layer_values == -128) | (layer_values == 127))
        assert saturated < 0.05, f"{name}: {saturated:.1%} saturated"
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    binary = build_host(tmp_path / "project", SANITIZE)
    result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    assert result.images == 200 and result.mismatches == 0


def test_the_random_nets_meet_every_kernel(quantized: dict[int, tuple[Q7Model, Dataset]]) -> None:
    kernels_seen = {
        call.kernel.name for model, _ in quantized.values() for call in lower(model).calls
    }
    expected = {
        "arm_convolve_HWC_q7_RGB", "arm_convolve_HWC_q7_basic", "arm_convolve_HWC_q7_fast",
        "arm_convolve_HWC_q7_basic_nonsquare", "arm_convolve_HWC_q7_fast_nonsquare",
        "arm_convolve_1x1_HWC_q7_fast_nonsquare", "arm_relu_q7", "arm_maxpool_q7_HWC",
        "arm_avepool_q7_HWC", "arm_fully_connected_q7_opt", "arm_softmax_q7",
        "arm_depthwise_separable_conv_HWC_q7",
    }  # fmt: skip
    assert expected <= kernels_seen, sorted(expected - kernels_seen)


@pytest.mark.cortex_m
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_net_is_bit_exact_on_cortex_m(
    seed: int, target: str, tmp_path: Path, quantized: dict[int, tuple[Q7Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    board = TARGETS[target]
    elf = build_target(tmp_path / "project", board)
    run = run_images(program, elf, board, data.test.images, tmp_path)
    result = compare_outputs(
        program, run.outputs, data.test.images, data.test.labels,
        dataclasses.replace(model, pool_variant=AverageVariant.DSP),
    )  # fmt: skip
    assert result.images == 200 and result.mismatches == 0
    check = memory_check(program, elf)
    assert check["arena_symbol_bytes"] == program.arena_size
    assert check["weight_symbol_bytes"] == weight_bytes(program)
    assert check["mean_symbol_bytes"] in (0, model.mean.size)  # 0: folded into the code
    assert check["weights_in_flash"] is True
