"""s8 quantization (min/max ranges) and the s8 simulator on small networks: the int8 model
agrees with the float model it came from, and its parameters follow TFLite's rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nn2mcu.datasets import load_dataset
from nn2mcu.frontends.caffe import InputShapeSources, load_net
from nn2mcu.quant.calibrate import float_outputs
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.s8.arithmetic import requantize
from nn2mcu.s8.model import TensorParams
from nn2mcu.simulate import simulate
from nn2mcu.train.session import TrainOptions, train_solvers
from tests.codegen.test_random_nets import dataset_for, random_net
from tests.train.conftest import Files


def test_tensor_params_follow_tflite() -> None:
    relu = TensorParams.from_range(0.0, 2.55)
    assert relu.zero_point == -128 and relu.scale == pytest.approx(0.01)
    symmetric = TensorParams.from_range(-1.0, 1.0)
    assert symmetric.zero_point == 0 or symmetric.zero_point == -1  # 127.5 rounds either way
    assert TensorParams.from_range(0.5, 2.0).zero_point == -128  # the range is widened to 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_random_nets_agree_with_their_float_model(seed: int) -> None:
    """Random nets (square, non-square, 1x1 and depthwise convolutions, both pools):
    the labels are the float net's own argmax."""
    graph = random_net(seed)
    data = dataset_for(graph, seed)
    result = quantize_s8(graph, data, calibration=600)
    assert result.report["s8_accuracy"] >= 0.9, result.report
    values = simulate(result.model, data.test.images)
    for name in result.model.weighted:
        assert len(np.unique(values[name])) >= 16, name
    # the random nets end in a Softmax: arm_softmax_s8 keeps the logits' argmax
    probabilities = values["prob"].reshape(len(data.test.images), -1)
    logits = values[result.model.logits].reshape(len(data.test.images), -1)
    top = probabilities.max(axis=1)
    assert np.all(probabilities[np.arange(len(logits)), logits.argmax(axis=1)] == top)


def test_trained_digits_net(tmp_path: Path) -> None:
    files = Files(tmp_path)
    solver = files.solver(
        "s.prototxt", max_iter=150, test_interval=0, extra="snapshot_format: HDF5"
    )
    weights = train_solvers([solver], TrainOptions(progress=False), log=lambda _: None).snapshots[0]
    data = load_dataset("digits")
    graph = load_net(files.net, weights=weights, sources=InputShapeSources(data_spec="digits"))
    result = quantize_s8(graph, data)
    model = result.model
    from nn2mcu.quant.calibrate import float_view

    view = float_view(graph)
    floats = float_outputs(view, data.test.images, [model.logits])[model.logits]
    float_accuracy = float(np.mean(floats.reshape(len(floats), -1).argmax(1) == data.test.labels))
    assert abs(result.report["s8_accuracy"] - float_accuracy) <= 0.02
    # the input as the formula says, computed independently
    pixels = data.test.images[:50]
    q = model.input_stage(pixels)
    params = model.tensors["data"]
    expected = np.clip(
        requantize(pixels.astype(np.int64) - model.mean, model.input_multiplier, model.input_shift)
        + params.zero_point, -128, 127,
    )  # fmt: skip
    assert np.array_equal(q, expected)
    # and it represents the real input to half a step where it is not saturated
    real = (pixels.astype(np.float64) - model.mean) * 2.0**model.scale_log2
    low, high = params.scale * (-128 - params.zero_point), params.scale * (127 - params.zero_point)
    inside = (real >= low) & (real <= high)
    error = np.abs(params.scale * (q.astype(np.float64) - params.zero_point) - real)[inside]
    assert inside.mean() > 0.9 and error.max() <= params.scale * (0.5 + 1e-6)
