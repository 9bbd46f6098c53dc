"""Golden generated files: a small fixed q7 model's C project, pinned under tests/golden.

Run pytest with --update-golden to rewrite them after a deliberate change; the diff is
then reviewed like any other change. The kernels/ folder is a verbatim copy of the
package's kernels and is not pinned here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.emit import generate
from nn2mcu.codegen.lower import lower
from nn2mcu.ir import Graph, Layer, Shape
from nn2mcu.ops import (
    Conv2D,
    Flatten,
    FullyConnected,
    Input,
    Pool2D,
    PoolMethod,
    Preprocessing,
    ReLU,
    Softmax,
)
from nn2mcu.q7.model import LayerFormats
from nn2mcu.quant.q7.build import build_model

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "small_q7"
FILES = ("weights.h", "weights.c", "parameter.h", "nn.h", "nn.c", "main.c", "Makefile")


def small_model():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1234)

    def fixed(shape: tuple[int, ...], frac: int) -> np.ndarray:
        return rng.integers(-100, 100, shape) / 2.0**frac

    graph = Graph(
        "small",
        (
            Layer("data", Input(shape=Shape(6, 6, 3), preprocessing=Preprocessing(mean_values=(120.0, 110.0, 100.0)))),
            Layer("conv1", Conv2D(out_channels=4, kernel=(3, 3), pad=(1, 1, 1, 1)), ("data",),
                  {"weight": fixed((4, 3, 3, 3), 8), "bias": fixed((4,), 8)}),
            Layer("relu1", ReLU(), ("conv1",)),
            Layer("pool1", Pool2D(method=PoolMethod.AVE, kernel=(2, 2), stride=(2, 2)), ("relu1",)),
            Layer("conv2", Conv2D(out_channels=6, kernel=(1, 3), stride=(1, 1)), ("pool1",),
                  {"weight": fixed((6, 1, 3, 4), 7), "bias": fixed((6,), 7)}),
            Layer("flat", Flatten(), ("conv2",)),
            Layer("ip1", FullyConnected(out_features=5), ("flat",), {"weight": fixed((5, 18), 9), "bias": fixed((5,), 6)}),
            Layer("prob", Softmax(), ("ip1",)),
        ),
    )  # fmt: skip
    formats = {
        "conv1": LayerFormats(8, 7, -2),
        "conv2": LayerFormats(7, 5, -1),
        "ip1": LayerFormats(9, 6, 2),
    }
    mean = np.array([120, 110, 100], dtype=np.int64)
    return build_model(graph, -1, -1, mean, formats)


def test_generated_files_match_the_golden_copies(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    program = lower(small_model())
    generate(program, tmp_path)
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (GOLDEN / name).write_bytes((tmp_path / name).read_bytes())
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes(), (
            f"{name} differs from tests/golden/small_q7/{name}; if the change is intended, "
            "run pytest --update-golden and review the diff"
        )


def test_small_model_covers_the_kernel_table() -> None:
    program = lower(small_model())
    assert [call.kernel.name for call in program.calls] == [
        "arm_convolve_HWC_q7_RGB", "arm_relu_q7", "arm_avepool_q7_HWC",
        "arm_convolve_HWC_q7_fast_nonsquare", "arm_fully_connected_q7_opt", "arm_softmax_q7",
    ]  # fmt: skip


@pytest.mark.host
def test_small_model_runs_bit_exactly_on_the_host(tmp_path: Path) -> None:
    """RGB, non-square fast convolution, average pooling and softmax through the C."""
    from nn2mcu.codegen.host import build_host, generate_atomically, verify_host

    program = lower(small_model())
    project = tmp_path / "project"
    generate_atomically(program, project)
    binary = build_host(project, "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all")
    pixels = np.random.default_rng(5).integers(0, 256, (200, 6, 6, 3), dtype=np.uint8)
    result = verify_host(program, binary, pixels, np.zeros(200, dtype=np.int64), tmp_path)
    assert result.images == 200 and result.mismatches == 0
    assert len(np.unique(result.outputs)) >= 16  # not trivially saturated


@pytest.mark.host
def test_large_activations_split_relu_calls_and_run_bit_exactly(tmp_path: Path) -> None:
    """A 40 x 40 x 48 activation (76,800 bytes) is beyond arm_relu_q7's uint16 size: the
    ReLU is emitted as two calls, and the whole net still matches the simulator."""
    from nn2mcu.codegen.host import build_host, generate_atomically, verify_host

    rng = np.random.default_rng(9)
    graph = Graph(
        "large",
        (
            Layer("data", Input(shape=Shape(40, 40, 4), preprocessing=Preprocessing(mean_values=(128.0,)))),
            Layer("conv1", Conv2D(out_channels=48, kernel=(1, 1)), ("data",),
                  {"weight": rng.integers(-100, 100, (48, 1, 1, 4)) / 256, "bias": rng.integers(-50, 50, 48) / 256}),
            Layer("relu1", ReLU(), ("conv1",)),
            Layer("pool1", Pool2D(method=PoolMethod.MAX, kernel=(8, 8), stride=(8, 8)), ("relu1",)),
            Layer("ip1", FullyConnected(out_features=4), ("pool1",),
                  {"weight": rng.integers(-100, 100, (4, 1200)) / 512, "bias": np.zeros(4)}),
        ),
    )  # fmt: skip
    model = build_model(graph, 0, 0, np.full(4, 128, dtype=np.int64), {
        "conv1": LayerFormats(8, 8, 0), "ip1": LayerFormats(9, 9, 0),
    })  # fmt: skip
    program = lower(model)
    generate_atomically(program, tmp_path / "project")
    nn_c = (tmp_path / "project" / "nn.c").read_text()
    assert "arm_relu_q7(nn_arena + CONV1_OFFSET + 0, 65535);" in nn_c
    assert "arm_relu_q7(nn_arena + CONV1_OFFSET + 65535, 11265);" in nn_c
    binary = build_host(
        tmp_path / "project", "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
    )
    pixels = rng.integers(0, 256, (20, 40, 40, 4), dtype=np.uint8)
    result = verify_host(program, binary, pixels, np.zeros(20, dtype=np.int64), tmp_path)
    assert result.mismatches == 0
