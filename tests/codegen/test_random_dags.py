"""Random small DAGs in the s8 scheme: two branches joined by an Add, skips across two or
more layers, odd channel counts, non-square inputs, so that buffer lifetimes are exercised:
a tensor read by a later Add must survive the layers in between. Each layer's output has
at least 16 distinct values; the C matches the simulator byte for byte on the host (ASan,
UBSan) and on the emulated Cortex-M4. Trained on digits (padded to non-square images), the
same DAGs keep their s8 test accuracy within 1 point of float."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nn2mcu.codegen.cortex_m import TARGETS, build_target, run_images
from nn2mcu.codegen.host import build_host, compare_outputs, generate_atomically, verify_host
from nn2mcu.codegen.lower import lower
from nn2mcu.datasets import Dataset, Split
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import (
    Add,
    Conv2D,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    Preprocessing,
    ReLU,
)
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.s8.model import S8Model
from nn2mcu.simulate import simulate
from nn2mcu.torch_net import TorchNet
from tests.codegen.test_random_nets import SANITIZE, dataset_for
from tests.codegen.test_s8_codegen import CMSIS_NN_ROOT, needs_cmsis_nn

SEEDS = range(4)


def random_dag(seed: int, shape: Shape | None = None, classes: int = 6) -> Graph:
    rng = np.random.default_rng(seed)
    random_shape = Shape(
        int(rng.integers(6, 10)), int(rng.integers(9, 13)), int(rng.choice([1, 3]))
    )
    shape = shape or random_shape
    layers = [
        Layer(
            "data",
            Input(shape=shape, preprocessing=Preprocessing(mean_values=(128.0,), scale=1 / 64)),
        )
    ]
    shapes = {"data": shape}

    def add(
        name: str, op: object, inputs: tuple[str, ...], weights: dict[str, np.ndarray] | None = None
    ) -> str:
        layers.append(Layer(name, op, inputs, weights or {}))  # type: ignore[arg-type]
        shapes[name] = op.output_shape([shapes[i] for i in inputs])  # type: ignore[attr-defined]
        return name

    def conv(
        name: str, source: str, out: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1)
    ) -> str:
        ky, kx = kernel
        pad = (ky // 2, kx // 2, ky // 2, kx // 2)
        fan_in = ky * kx * shapes[source].c
        weights = {"weight": rng.normal(0, 1.5 / np.sqrt(fan_in), (out, ky, kx, shapes[source].c)),
                   "bias": rng.normal(0, 0.2, out)}  # fmt: skip
        return add(
            name,
            Conv2D(out_channels=out, kernel=kernel, stride=stride, pad=pad),
            (source,),
            weights,
        )

    width = int(rng.choice([5, 7, 9]))  # odd channel counts
    stem = add("relu0", ReLU(), (conv("conv0", "data", width, (3, 3)),))
    # two branches joined by an Add: a 3x1 / 1x3 pair against a 1x1 convolution
    left = add("relu1", ReLU(), (conv("conv1", stem, width, (3, 1)),))
    left = conv("conv2", left, width, (1, 3))
    right = conv("conv3", stem, width, (1, 1))
    joined = add("relu_join", ReLU(), (add("join", Add(), (left, right)),))
    # a skip across three layers back to the stem
    deep = add("relu4", ReLU(), (conv("conv4", joined, width, (3, 3)),))
    deep = conv(
        "conv5",
        add(
            "pool5", Pool2D(PoolMethod.MAX, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1)), (deep,)
        ),
        width,
        (3, 3),
    )
    skip = add("skip", Add(), (deep, stem))
    # and a second skip over the first one's output
    out = add("relu6", ReLU(), (conv("conv6", skip, width, (1, 1)),))
    total = add("total", Add(), (out, joined))
    flat = add(
        "flat",
        Flatten(),
        (add("pool7", Pool2D(PoolMethod.AVE, kernel=(2, 2), stride=(2, 2)), (total,)),),
    )
    features = shapes[flat].c
    add("ip", FullyConnected(out_features=classes), (flat,),
        {"weight": rng.normal(0, 1.5 / np.sqrt(features), (classes, features)),
         "bias": rng.normal(0, 0.1, classes)})  # fmt: skip
    return Graph(f"dag{seed}", tuple(layers))


@pytest.fixture(scope="module")
def quantized() -> dict[int, tuple[S8Model, Dataset]]:
    nets = {}
    for seed in SEEDS:
        graph = random_dag(seed)
        data = dataset_for(graph, seed, logits="ip", offset=200)
        nets[seed] = (quantize_s8(graph, data, calibration=600).model, data)
    return nets


def test_every_layer_has_at_least_16_distinct_values(
    quantized: dict[int, tuple[S8Model, Dataset]],
) -> None:
    for model, data in quantized.values():
        values = simulate(model, data.test.images)
        for name, value in values.items():
            assert len(np.unique(value)) >= 16, (
                f"{model.graph.name}: '{name}' has too few distinct values"
            )


def test_lifetimes_keep_a_skipped_tensor_alive(
    quantized: dict[int, tuple[S8Model, Dataset]],
) -> None:
    program = lower(quantized[0][0])
    position = {call.layer.name: index for index, call in enumerate(program.calls)}
    stem = program.buffers["conv0"]  # relu0 is fused into conv0
    assert stem.last == position["skip"] > position["conv3"] + 3
    for call in program.calls:
        if call.kernel.name == "arm_elementwise_add_s8":
            assert len(call.inputs) == 2 and call.output not in call.inputs


@pytest.mark.host
@pytest.mark.parametrize("seed", SEEDS)
def test_random_dag_is_bit_exact_on_the_host(
    seed: int, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    binary = build_host(tmp_path / "project", SANITIZE)
    result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
    assert result.images == 200 and result.mismatches == 0


@pytest.mark.cortex_m
@pytest.mark.parametrize("seed", SEEDS)
def test_random_dag_is_bit_exact_on_cortex_m4(
    seed: int, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    model, data = quantized[seed]
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    board = TARGETS["cortex-m4"]
    elf = build_target(tmp_path / "project", board)
    run = run_images(program, elf, board, data.test.images, tmp_path)
    result = compare_outputs(program, run.outputs, data.test.images, data.test.labels)
    assert result.images == 200 and result.mismatches == 0


@pytest.mark.cortex_m
@needs_cmsis_nn
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_random_dag_against_real_cmsis_nn(
    target: str, tmp_path: Path, quantized: dict[int, tuple[S8Model, Dataset]]
) -> None:
    """The residual DAGs built against CMSIS-NN's own kernels (arm_elementwise_add_s8 among
    them) compute the same bytes."""
    for seed, (model, data) in quantized.items():
        program = lower(model, "cmsis")
        project = tmp_path / f"project{seed}"
        generate_atomically(program, project, "cmsis", Path(str(CMSIS_NN_ROOT)))
        if target == "host":
            binary = build_host(project, "-O2")  # not UBSan: CMSIS-NN's own shifts
            result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
        else:
            board = TARGETS[target]
            run = run_images(
                program, build_target(project, board), board, data.test.images, tmp_path
            )
            result = compare_outputs(program, run.outputs, data.test.images, data.test.labels)
        assert result.images == 200 and result.mismatches == 0


@pytest.fixture(scope="module")
def trained() -> list[tuple[S8Model, Dataset, dict[str, float]]]:
    """Each DAG on digits padded to 8 x (9..12) (non-square), trained 20 epochs with Adam,
    then quantized for s8."""
    from nn2mcu.datasets import load_dataset

    digits = load_dataset("digits")
    nets = []
    for seed in SEEDS:
        widths = ((0, 0), (0, 0), (0, 1 + seed), (0, 0))
        data = Dataset(
            f"digits {8}x{9 + seed}",
            Split(np.pad(digits.train.images, widths), digits.train.labels),
            Split(np.pad(digits.test.images, widths), digits.test.labels),
            digits.classes,
        )
        torch.manual_seed(seed)
        net = TorchNet(random_dag(seed, Shape(8, 9 + seed, 1), classes=10))
        x = torch.from_numpy(
            ((data.train.images.astype(np.float32) - 128) / 64).transpose(0, 3, 1, 2).copy()
        )
        y = torch.from_numpy(data.train.labels)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.005)
        for _ in range(20):
            for start in range(0, len(x), 64):
                optimizer.zero_grad()
                logits = net(x[start : start + 64], outputs=["ip"])["ip"].reshape(-1, 10)
                torch.nn.functional.cross_entropy(logits, y[start : start + 64]).backward()
                optimizer.step()
        s8 = quantize_s8(net.eval().to_graph(), data, calibration=1000)
        nets.append((s8.model, data, s8.report))
    return nets


@pytest.mark.cortex_m
def test_trained_dags_keep_their_accuracy_and_verify(
    trained: list[tuple[S8Model, Dataset, dict[str, float]]], tmp_path: Path
) -> None:
    """Trained on digits, each DAG's s8 test accuracy is within 1 point of its float
    accuracy; the C matches the simulator on the host and the Cortex-M4."""
    for index, (model, data, report) in enumerate(trained):
        assert report["float_accuracy"] > 0.85
        assert abs(report["s8_accuracy"] - report["float_accuracy"]) <= 0.01, report
        program = lower(model)
        project = tmp_path / f"project{index}"
        generate_atomically(program, project)
        binary = build_host(project, SANITIZE)
        result = verify_host(program, binary, data.test.images, data.test.labels, tmp_path)
        assert result.images == 360 and result.mismatches == 0
        board = TARGETS["cortex-m4"]
        run = run_images(program, build_target(project, board), board, data.test.images, tmp_path)
        assert (
            compare_outputs(program, run.outputs, data.test.images, data.test.labels).mismatches
            == 0
        )
