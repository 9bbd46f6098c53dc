"""nn2mcu's portable C kernels against the simulator's kernel models, byte for byte.

The kernels are compiled with -Wall -Wextra -Werror -pedantic and AddressSanitizer and
UndefinedBehaviorSanitizer into one harness process that runs every case on exactly
sized heap buffers. Random shapes, signs, paddings, strides, odd channel counts,
saturating outputs and int32 wrap-around (large bias shifts).
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.ir import Shape
from nn2mcu.ops import (
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Pool2D,
    PoolMethod,
    ReLU,
    Softmax,
)
from nn2mcu.ops.fully_connected import x4_interleave
from nn2mcu.q7.model import AverageVariant
from tests.references import q7_reference

pytestmark = pytest.mark.kernel

KERNELS = Path(__file__).resolve().parents[2] / "src" / "nn2mcu" / "kernels" / "q7"
HARNESS = Path(__file__).resolve().parent / "harness.c"
SIZE_MISMATCH = -3


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("harness") / "harness"
    sources = [str(HARNESS), *map(str, sorted(KERNELS.glob("*.c")))]
    subprocess.run(
        ["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all", f"-I{KERNELS}", *sources, "-o", str(binary)],
        check=True,
    )  # fmt: skip
    return binary


@dataclass
class Case:
    kind: int
    variant: int
    dims: list[int]
    inputs: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    expected: np.ndarray | None  # None: the kernel must refuse (size mismatch)

    def encode(self) -> bytes:
        head = [self.kind, self.variant, *self.dims]
        head += [self.inputs.size, self.weights.size, self.bias.size, self.out_size]
        return (
            struct.pack(f"<{len(head)}i", *head)
            + self.inputs.astype(np.int8).tobytes()
            + self.weights.astype(np.int8).tobytes()
            + self.bias.astype(np.int8).tobytes()
        )

    @property
    def out_size(self) -> int:
        return 0 if self.expected is None else int(self.expected.size)


def run_cases(binary: Path, cases: list[Case]) -> None:
    result = subprocess.run(
        [str(binary)], input=b"".join(c.encode() for c in cases), capture_output=True, timeout=300
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    out, offset = result.stdout, 0
    for index, case in enumerate(cases):
        (status,) = struct.unpack_from("<i", out, offset)
        offset += 4
        got = np.frombuffer(out, dtype=np.int8, count=case.out_size, offset=offset)
        offset += case.out_size
        if case.expected is None:
            assert status == SIZE_MISMATCH, f"case {index}: expected a size mismatch"
            continue
        assert status == 0, f"case {index} ({case.kind}/{case.variant}): status {status}"
        np.testing.assert_array_equal(
            got, case.expected.astype(np.int8).ravel(), err_msg=f"case {index}"
        )
    assert offset == len(out)


def int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int64)


def shifts(rng: np.random.Generator) -> tuple[int, int]:
    if rng.random() < 0.2:
        return int(rng.integers(24, 32)), int(rng.integers(0, 32))
    return int(rng.integers(0, 10)), int(rng.integers(0, 14))


def conv_case(rng: np.random.Generator, variant: int, depthwise: bool = False) -> Case:
    square = variant in (0, 1, 2) and not (depthwise and variant == 1)
    k = int(rng.integers(1, 5))
    kernel = (k, k) if square else (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    # top, left, bottom, right: the non-square kernels take top and left and the output
    # size, so their bottom and right padding may differ (TFLite SAME, the KWS network)
    pad = tuple(int(rng.integers(0, kernel[axis % 2])) for axis in range(4))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    if square:
        pad, stride = (pad[0],) * 4, (stride[0], stride[0])
    size = (int(rng.integers(kernel[0], 10)), int(rng.integers(kernel[1], 10)))
    if square:
        size = (size[0], size[0])
    ch_in = int(rng.integers(1, 7))
    ch_out = int(rng.integers(1, 6))
    if variant in (1, 4) and not depthwise:
        ch_in, ch_out = 4 * int(rng.integers(1, 3)), 2 * int(rng.integers(1, 3))
    if variant == 2:
        ch_in = 3
    if variant == 5:
        kernel, pad, stride = (1, 1), (0, 0, 0, 0), (1, 1)
        ch_in, ch_out = 4 * int(rng.integers(1, 3)), 2 * int(rng.integers(1, 3))
    return geometry_case(rng, variant, depthwise, size, kernel, stride, pad, ch_in, ch_out)


def geometry_case(
    rng: np.random.Generator, variant: int, depthwise: bool, size: tuple[int, int],
    kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, ...], ch_in: int,
    ch_out: int,
) -> Case:  # fmt: skip
    """A convolution case of this geometry with random values; ``pad`` is (top, left,
    bottom, right)."""
    top, left, bottom, right = pad
    if depthwise:
        ch_out = ch_in
        op: Conv2D | DepthwiseConv2D = DepthwiseConv2D(
            kernel=kernel, stride=stride, pad=(top, left, bottom, right)
        )
        weights = int8(rng, (1, *kernel, ch_in))
    else:
        op = Conv2D(
            out_channels=ch_out, kernel=kernel, stride=stride, pad=(top, left, bottom, right)
        )
        weights = int8(rng, (ch_out, *kernel, ch_in))
    out = op.output_shape([Shape(size[0], size[1], ch_in)])
    x, bias = int8(rng, (1, *size, ch_in)), int8(rng, (ch_out,))
    bias_shift, out_shift = shifts(rng)
    expected = q7_reference(op, x, weights, bias, bias_shift=bias_shift, out_shift=out_shift)
    dims = [size[1], size[0], ch_in, ch_out, kernel[1], kernel[0], left, top, stride[1], stride[0],
            out.w, out.h, bias_shift, out_shift, 0, 0]  # fmt: skip
    square = variant in (0, 1, 2)
    return Case(
        1 if depthwise else 0,
        variant if not depthwise else int(not square),
        dims,
        x,
        weights,
        bias,
        expected,
    )


# TFLite SAME padding with stride 2 on an even input pads (0, 1); the MLPerf KWS network's
# first layer (10 x 4 kernel, stride 2, on 49 x 10) pads (4, 5) and (1, 1)
ASYMMETRIC = {
    "same-stride-2": ((8, 8), (3, 3), (2, 2), (0, 0, 1, 1), 4, 4),
    "kws-first-layer": ((49, 10), (10, 4), (2, 2), (4, 1, 5, 1), 1, 8),
    "more-below": ((7, 9), (3, 2), (1, 2), (0, 1, 2, 0), 2, 2),
}


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
@pytest.mark.parametrize("geometry", list(ASYMMETRIC))
def test_asymmetric_padding(harness: Path, geometry: str, depthwise: bool) -> None:
    """The non-square kernels on paddings that differ between the two sides of an axis."""
    size, kernel, stride, pad, ch_in, ch_out = ASYMMETRIC[geometry]
    if depthwise:
        ch_in = 2 * ch_in  # the q7 depthwise kernels need an even channel count
    rng = np.random.default_rng(7)
    variants = (3,) if depthwise else (3, 4) if ch_in % 4 == 0 and ch_out % 2 == 0 else (3,)
    cases = [
        geometry_case(rng, variant, depthwise, size, kernel, stride, pad, ch_in, ch_out)
        for variant in variants
        for _ in range(5)
    ]
    run_cases(harness, cases)


@pytest.mark.parametrize(
    "variant", range(6), ids=["basic", "fast", "RGB", "basic_nonsquare", "fast_nonsquare", "1x1"]
)
def test_convolutions(harness: Path, variant: int) -> None:
    rng = np.random.default_rng(variant)
    run_cases(harness, [conv_case(rng, variant) for _ in range(60)])


@pytest.mark.parametrize("variant", [0, 3], ids=["square", "nonsquare"])
def test_depthwise(harness: Path, variant: int) -> None:
    rng = np.random.default_rng(10 + variant)
    run_cases(harness, [conv_case(rng, variant, depthwise=True) for _ in range(60)])


def test_constraints_are_checked(harness: Path) -> None:
    rng = np.random.default_rng(20)
    cases = []
    for variant, ch_in, ch_out in ((1, 3, 2), (1, 4, 3), (2, 4, 2), (4, 6, 2), (5, 4, 1)):
        case = conv_case(rng, variant)
        case.dims[2], case.dims[3] = ch_in, ch_out
        case.inputs = case.inputs[..., :1].repeat(ch_in, axis=-1)
        case.weights = int8(rng, (ch_out, case.dims[5], case.dims[4], ch_in))
        case.bias = int8(rng, (ch_out,))
        case.expected = None
        cases.append(case)
    depthwise = conv_case(rng, 0, depthwise=True)
    depthwise.dims[3] = depthwise.dims[2] + 1
    depthwise.expected = None
    run_cases(harness, [*cases, depthwise])


@pytest.mark.parametrize("opt", [False, True], ids=["q7", "q7_opt"])
def test_fully_connected(harness: Path, opt: bool) -> None:
    rng = np.random.default_rng(30 + opt)
    cases = []
    for _ in range(60):
        dim_vec, rows = int(rng.integers(1, 40)), int(rng.integers(1, 14))
        x, weight, bias = (
            int8(rng, (1, 1, 1, dim_vec)),
            int8(rng, (rows, dim_vec)),
            int8(rng, (rows,)),
        )
        bias_shift, out_shift = shifts(rng)
        expected = q7_reference(
            FullyConnected(out_features=rows),
            x,
            weight,
            bias,
            bias_shift=bias_shift,
            out_shift=out_shift,
        )
        stored = x4_interleave(weight) if opt else weight
        dims = [0] * 12 + [bias_shift, out_shift, dim_vec, rows]
        cases.append(Case(3 if opt else 2, 0, dims, x, stored, bias, expected))
    run_cases(harness, cases)


def test_relu_pooling_and_softmax(harness: Path) -> None:
    rng = np.random.default_rng(40)
    cases = []
    for _ in range(40):
        x = int8(rng, (int(rng.integers(1, 300)),))
        cases.append(Case(4, 0, [0] * 16, x, np.zeros(0), np.zeros(0), q7_reference(ReLU(), x)))
    for kind, method in ((5, PoolMethod.MAX), (6, PoolMethod.AVE)):
        for _ in range(60):
            k = int(rng.integers(1, 5))
            stride = int(rng.integers(1, k + 1))
            size, channels = int(rng.integers(k, 12)), int(rng.integers(1, 7))
            op = Pool2D(method=method, kernel=(k, k), stride=(stride, stride))
            out = op.output_shape([Shape(size, size, channels)])
            x = int8(rng, (1, size, size, channels))
            expected = q7_reference(op, x, AverageVariant.DSP)
            dims = [
                size,
                size,
                channels,
                channels,
                k,
                k,
                0,
                0,
                stride,
                stride,
                out.w,
                out.h,
                0,
                0,
                0,
                0,
            ]
            cases.append(Case(kind, 0, dims, x, np.zeros(0), np.zeros(0), expected))
    for _ in range(40):
        x = int8(rng, (int(rng.integers(1, 20)),)) // int(rng.choice([1, 8, 32]))
        cases.append(
            Case(
                7, 0, [0] * 16, x, np.zeros(0), np.zeros(0), q7_reference(Softmax(), x[None, :])[0]
            )
        )
    run_cases(harness, cases)
