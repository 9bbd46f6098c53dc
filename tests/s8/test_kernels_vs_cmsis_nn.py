"""nn2mcu's models of the s8 kernels (nn2mcu.s8.kernels) against a real CMSIS-NN tree
built for the host, on random cases: convolutions (1x1, 1xN and generic, so every branch
of the wrapper), depthwise convolutions, fully-connected layers (per tensor and per
channel), max and average pooling, with padding, strides, offsets and activation ranges.
Runs only when CMSIS_NN_ROOT is set (CMSIS-NN is in no package registry)."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.s8.arithmetic import quantize_multiplier
from nn2mcu.s8.kernels import conv_s8, depthwise_conv_s8, fully_connected_s8, pool_s8

CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")
HARNESS = Path(__file__).with_name("cmsis_nn_harness.c")
pytestmark = pytest.mark.skipif(
    not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT is not set (a CMSIS-NN tree, >= v4)"
)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert CMSIS_NN_ROOT is not None
    root = Path(CMSIS_NN_ROOT)
    binary = tmp_path_factory.mktemp("cmsis_nn") / "harness"
    sources = sorted(str(p) for p in (root / "Source").rglob("*.c"))
    build = subprocess.run(
        ["gcc", "-O1", "-w", f"-I{root / 'Include'}", str(HARNESS), *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    return binary


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _case(rng: np.random.Generator, kind: int) -> tuple[bytes, np.ndarray]:
    n = int(rng.integers(1, 3))
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    c = int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    if kind == 0 and rng.random() < 0.3:
        kh = kw = 1
    if kind == 0 and rng.random() < 0.2:
        kh, h = 1, 1  # 1xN
    sy, sx = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    py, px = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    if kh == kw == 1 and kind == 0:
        py = px = 0
    if kind in (2, 3):
        out_h = out_w = 1
    else:
        out_h, out_w = _out(h, kh, sy, py), _out(w, kw, sx, px)
    out_c = c if kind in (1, 4, 5) else int(rng.integers(1, 9))
    input_offset = int(rng.integers(-127, 129))
    output_offset = int(rng.integers(-128, 128))
    low = int(rng.integers(-128, 0))
    high = int(rng.integers(0, 128))
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    if kind == 0:
        weight = rng.integers(-127, 128, (out_c, kh, kw, c)).astype(np.int8)
    elif kind == 1:
        weight = rng.integers(-127, 128, (1, kh, kw, out_c)).astype(np.int8)
    elif kind in (2, 3):
        weight = rng.integers(-127, 128, (out_c, h * w * c)).astype(np.int8)
    else:
        weight = np.zeros(0, np.int8)
    bias = rng.integers(-5000, 5000, out_c).astype(np.int32)
    pairs = [quantize_multiplier(float(s)) for s in rng.uniform(2e-5, 0.05, out_c)]
    if kind == 2:
        pairs = [pairs[0]] * out_c
    multiplier = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    header = [kind, n, h, w, c, out_h, out_w, out_c, kh, kw, sy, sx, py, px,
              input_offset, output_offset, low, high, 0]  # fmt: skip
    payload = struct.pack("<19i", *header) + x.tobytes() + weight.tobytes()
    payload += bias.tobytes() + multiplier.tobytes() + shift.tobytes()
    common = {"input_offset": input_offset, "output_offset": output_offset,
              "multiplier": multiplier, "shift": shift, "activation": (low, high)}  # fmt: skip
    if kind == 0:
        expected = conv_s8(x, weight, bias, stride=(sy, sx), pad=(py, px), **common)
    elif kind == 1:
        expected = depthwise_conv_s8(x, weight, bias, stride=(sy, sx), pad=(py, px), **common)
    elif kind in (2, 3):
        expected = fully_connected_s8(x, weight, bias, **common)
    else:
        expected = pool_s8(x, kernel=(kh, kw), stride=(sy, sx), pad=(py, px),
                           out_shape=(out_h, out_w), average=kind == 5, activation=(low, high))  # fmt: skip
    return payload, expected


@pytest.mark.parametrize(
    "kind", [0, 1, 2, 3, 4, 5], ids=["conv", "depthwise", "fc", "fc-per-channel", "max", "avg"]
)
def test_kernel_matches_cmsis_nn(harness: Path, kind: int) -> None:
    rng = np.random.default_rng(1000 + kind)
    cases = [_case(rng, kind) for _ in range(150)]
    run = subprocess.run(
        [str(harness)], input=b"".join(p for p, _ in cases), capture_output=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    offset = 0
    for index, (_, expected) in enumerate(cases):
        (status,) = struct.unpack_from("<i", run.stdout, offset)
        offset += 4
        got = np.frombuffer(run.stdout, np.int8, expected.size, offset).reshape(expected.shape)
        offset += expected.size
        assert status == 0, f"case {index}: status {status}"
        assert np.array_equal(got, expected), f"case {index}"
    assert offset == len(run.stdout)
