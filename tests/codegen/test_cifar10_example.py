"""--compat cmsis-cifar10-example: the headers of CMSIS-NN's own CIFAR-10 example, for ARM's
trained M4 network (version (a)) and a max-pool variant with a per-channel mean (version
(b)), built with a stand-in of the example's call sequence on the portable kernels under
ASan/UBSan and compared byte for byte with the simulator."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.cifar10_example import match_example
from nn2mcu.codegen.lower import lower
from nn2mcu.datasets import load_dataset
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.modelfile import read_quantized
from nn2mcu.ops import Pool2D, PoolMethod, Softmax
from nn2mcu.q7.model import SoftmaxVersion
from nn2mcu.q7.preprocess import quantize_input
from nn2mcu.simulate import simulate
from tests.codegen.conftest import TEST_IMAGES, Quantized, nn2mcu, quantize_arm_m4
from tests.references import q7_reference
from tests.train.conftest import Files

STANDIN = Path(__file__).with_name("cifar10_example_standin.c")
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
IMAGES = TEST_IMAGES


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return nn2mcu(*args, cwd=cwd)


@pytest.fixture(scope="module")
def work(cifar_subset: Path) -> Path:
    return cifar_subset.parent


def quantize(work: Path, arm_models: Path, version: str) -> Path:
    return quantize_arm_m4(work, arm_models, work / "data.npz", max_pools=version == "b")


def build_standin(project: Path) -> Path:
    binary = project / "standin"
    command = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE]
    command += [f"-I{project}", f"-I{project / 'kernels'}", str(STANDIN)]
    command += [*map(str, sorted((project / "kernels").glob("*.c"))), "-o", str(binary)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return binary


@pytest.mark.parametrize("version", ["a", "b"])
def test_example_call_sequence_matches_the_simulator(
    work: Path, arm_models: Path, arm_m4: Quantized, version: str
) -> None:
    model_json = arm_m4.model if version == "a" else quantize(work, arm_models, version)
    project = work / f"project_{version}"
    result = run(
        "generate", model_json, "-o", project, "--compat", "cmsis-cifar10-example", cwd=work
    )
    assert result.returncode == 0, result.stderr
    parameters = (project / "arm_nnexamples_cifar10_parameter.h").read_text()
    weights = (project / "arm_nnexamples_cifar10_weights.h").read_text()
    for line in (
        "#define CONV1_IM_DIM 32", "#define CONV1_IM_CH 3", "#define CONV1_KER_DIM 5",
        "#define CONV1_PADDING 2", "#define CONV1_STRIDE 1", "#define CONV1_OUT_CH 32",
        "#define CONV1_OUT_DIM 32", "#define POOL1_KER_DIM 3", "#define POOL1_STRIDE 2",
        "#define POOL1_OUT_DIM 16", "#define CONV2_IM_CH 32", "#define CONV2_OUT_CH 16",
        "#define CONV3_IM_DIM 8", "#define POOL3_OUT_DIM 4", "#define IP1_DIM (4 * 4 * 32)",
        "#define IP1_IM_DIM 4", "#define IP1_IM_CH 32", "#define IP1_OUT 10",
    ):  # fmt: skip
        assert line + "\n" in parameters, line
    model = read_quantized(model_json)
    for prefix, layer in (("CONV1", "conv1"), ("CONV3", "conv3"), ("IP1", "ip1")):
        shifts = model.weighted[layer].shifts
        assert f"#define {prefix}_BIAS_LSHIFT {shifts.bias_shift}\n" in weights
        assert f"#define {prefix}_OUT_RSHIFT {shifts.out_shift}\n" in weights
    assert f"version ({version})" in parameters

    data = load_dataset(str(work / "data.npz"))
    pixels = data.test.images[:IMAGES]
    if version == "b":
        assert "#define INPUT_MEAN_SHIFT {125,123,114}\n" in weights
        assert f"#define INPUT_RIGHT_SHIFT {{{','.join([str(7 - model.pixel_frac)] * 3)}}}\n" in (
            weights
        )
        fed = pixels
    else:
        assert "INPUT_MEAN_SHIFT" not in weights
        fed = quantize_input(pixels, model.mean, model.pixel_frac).astype(np.int8)
    binary = build_standin(project)
    (work / "in.bin").write_bytes(np.ascontiguousarray(fed).tobytes())
    result = subprocess.run(
        [str(binary), work / "in.bin", work / "logits.bin", work / "probabilities.bin"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    logits = np.frombuffer((work / "logits.bin").read_bytes(), np.int8).reshape(IMAGES, 10)
    probabilities = np.frombuffer((work / "probabilities.bin").read_bytes(), np.int8)

    expected = simulate(model, pixels)[model.logits].reshape(IMAGES, 10)
    assert int((logits != expected).sum()) == 0
    softmax = q7_reference(Softmax(), expected, SoftmaxVersion.V2019)
    assert int((probabilities.reshape(IMAGES, 10) != softmax).sum()) == 0
    # nothing passes trivially: varied logits, and the classes mostly right
    assert len(np.unique(logits)) >= 16
    assert np.mean(np.argmax(logits, axis=1) == data.test.labels[:IMAGES]) > 0.5


def _with_pool(graph: Graph, name: str, method: PoolMethod) -> Graph:
    layers = tuple(
        dataclasses.replace(layer, op=dataclasses.replace(layer.op, method=method))
        if layer.name == name and isinstance(layer.op, Pool2D)
        else layer
        for layer in graph.layers
    )
    return Graph(graph.name, layers, graph.outputs)


def test_other_networks_are_refused_naming_the_first_layer(arm_m4: Quantized) -> None:
    model = read_quantized(arm_m4.model)
    assert match_example(lower(model)).version == "a"
    changed = dataclasses.replace(model, graph=_with_pool(model.graph, "pool1", PoolMethod.AVE))
    with pytest.raises(InputError, match=r"layer 'pool1' matches neither version.*MAX pooling"):
        match_example(lower(changed))
    changed = dataclasses.replace(model, graph=_with_pool(model.graph, "pool3", PoolMethod.MAX))
    with pytest.raises(InputError, match=r"layer 'pool3' matches neither.*\(a\) expects AVE"):
        match_example(lower(changed))


def test_a_net_too_big_for_the_example_exits_2_and_writes_nothing(
    work: Path, arm_models: Path
) -> None:
    """ARM's M4 topology with 48 channels in conv1 (one training iteration is enough): its
    output does not fit the example's 32,768-byte img_buffer1."""
    text = (arm_models / "cifar10_m4_train_test.prototxt").read_text()
    text = text.replace("num_output: 32", "num_output: 48", 1)
    text = re.sub(r'mean_file: "[^"]*"', f'mean_file: "{work / "mean.binaryproto"}"', text)
    net = work / "m4_wide.prototxt"
    net.write_text(text)
    solver = Files(work).solver(
        "wide_solver.prototxt", net=net, max_iter=1, test_interval=0, prefix="wide",
        extra="snapshot_format: HDF5",
    )  # fmt: skip
    result = run("train", solver, "--data", work / "data.npz", "--no-progress", cwd=work)
    assert result.returncode == 0, result.stderr
    out = work / "wide.json"
    result = run(
        "quantize", net, "--weights", work / "wide_iter_1.caffemodel.h5",
        "--data", work / "data.npz", "--calibration", 100, "-o", out, cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    project = work / "wide_project"
    result = run("generate", out, "-o", project, "--compat", "cmsis-cifar10-example", cwd=work)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "nn2mcu: error: --compat cmsis-cifar10-example: layer 'conv1': the output needs 49152 "
        "bytes, the example's img_buffer1 holds 32768"
    )
    assert not project.exists()


@pytest.mark.host
@pytest.mark.skipif(
    not os.environ.get("CMSIS_5_ROOT"),
    reason="CMSIS_5_ROOT is not set (a CMSIS 5.x tree, <= 5.9.0)",
)
def test_arm_m4_network_on_real_cmsis_nn(work: Path, arm_m4: Quantized) -> None:
    """ARM's trained M4 network (the seed's topology) through real CMSIS-NN on the host,
    against the simulator's 2-D average pool (CMSIS-NN's plain-C path)."""
    model_json = arm_m4.model
    result = run(
        "verify", model_json, "--data", work / "data.npz", "--kernels", "cmsis", "--json",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == IMAGES and summary["mismatches"] == 0
