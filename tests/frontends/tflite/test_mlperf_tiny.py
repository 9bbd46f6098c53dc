"""The four MLPerf Tiny int8 reference models, as they are: 0 mismatching bytes against the
simulator and against TensorFlow Lite Micro's reference interpreter, in the simulator (every
layer against TFLM's preserved intermediate tensors) and through the generated C on the
host and on the emulated Cortex-M4 (and with CMSIS-NN itself when CMSIS_NN_ROOT is set)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.datasets.tensors import random_tensors
from nn2mcu.modelfile import read_model
from nn2mcu.simulate import simulate
from nn2mcu.tflm import Oracle
from tests.codegen.conftest import nn2mcu
from tests.conftest import shared_dir

MODELS = ("pretrainedResnet_quant", "kws_ref_model", "vww_96_int8", "ad01_int8")
CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")


def model_path(name: str) -> Path:
    path = shared_dir() / "data" / "mlperf-tiny" / f"{name}.tflite"
    if not path.is_file():
        pytest.fail(f"the MLPerf Tiny model {path} is missing (set NN2MCU_SHARED)")
    return path


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_equals_tflm(name: str) -> None:
    path = model_path(name)
    model = read_model(path)
    shape = model.graph.shapes[model.graph.input_name]
    inputs = random_tensors((shape.h, shape.w, shape.c), model.input_params.zero_point, 4)
    values = simulate(model, inputs)
    oracle = Oracle(path, preserve_all_tensors=True)
    compared = 0
    for index, tensor in enumerate(inputs):
        oracle.invoke(tensor)
        for layer, tflite_tensor in model.imported.tensors.items():
            want = oracle.tensor(tflite_tensor)
            got = values[layer][index].ravel()
            assert np.array_equal(got, want), f"{name}: layer '{layer}', input {index}"
            compared += got.size
    # not trivially equal: the outputs of the weighted layers vary
    for layer in model.weighted:
        assert len(np.unique(values[layer])) >= 8, f"{name}: '{layer}' is nearly constant"
    assert compared > 4 * 1000


def _verify(path: Path, tmp_path: Path, *args: object) -> dict[str, object]:
    result = nn2mcu("verify", path, *args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    summary: dict[str, object] = json.loads(result.stdout)  # one JSON object, nothing else
    return summary


@pytest.mark.host
@pytest.mark.parametrize("name", MODELS[1:])
def test_host_random_inputs(name: str, tmp_path: Path) -> None:
    summary = _verify(model_path(name), tmp_path, "--random", 100)
    assert summary["images"] == 100
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0
    assert summary["accuracy"] is None
    assert summary["tflm_version"] == "0.dev20261023182759"


@pytest.mark.host
def test_image_classification_over_the_performance_samples(tmp_path: Path) -> None:
    data = shared_dir() / "data"
    summary = _verify(
        model_path("pretrainedResnet_quant"), tmp_path, "--data", data / "cifar10-jpeg",
        "--indices", data / "mlperf-tiny" / "perf_samples_idxs.npy",
    )  # fmt: skip
    assert summary["images"] == 200
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0
    assert summary["accuracy"] == 0.75  # TFLM's on these images (anchors.md)


@pytest.mark.cortex_m
@pytest.mark.parametrize("name", MODELS)
def test_cortex_m4(name: str, tmp_path: Path) -> None:
    path = model_path(name)
    if name == "pretrainedResnet_quant":
        data = shared_dir() / "data"
        args: tuple[object, ...] = (
            "--data", data / "cifar10-jpeg",
            "--indices", data / "mlperf-tiny" / "perf_samples_idxs.npy",
        )  # fmt: skip
    else:
        args = ("--random", 100)
    summary = _verify(path, tmp_path, "--target", "cortex-m4", *args)
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0
    assert summary["weights_in_flash"] is True
    assert summary["arena_symbol_bytes"] == summary["arena_bytes"]


@pytest.mark.host
@pytest.mark.skipif(not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT (a CMSIS-NN v7+ tree) is not set")
@pytest.mark.parametrize("name", MODELS)
def test_host_with_real_cmsis_nn(name: str, tmp_path: Path) -> None:
    summary = _verify(model_path(name), tmp_path, "--random", 100, "--kernels", "cmsis")
    assert summary["mismatches"] == 0 and summary["tflm_mismatches"] == 0


@pytest.mark.parametrize(
    ("name", "mean", "scale"), [("pretrainedResnet_quant", 0.0, 1.0), ("vww_96_int8", 0.0, 1 / 255)]
)
def test_pixels_map_to_pixel_minus_128(name: str, mean: float, scale: float) -> None:
    """The MLPerf README: IC takes int8 = pixel - 128 (scale 1), VWW scale 1/255 and zero
    point -128, so --scale 1/255 gives pixel - 128 too."""
    from nn2mcu.modelfile import with_pixel_map

    model = with_pixel_map(read_model(model_path(name)), mean, scale)
    table = model.imported.pixel_table(model.input_params)
    assert table.tolist() == [p - 128 for p in range(256)]
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    assert model.input_stage(pixels).ravel().tolist() == table.tolist()
