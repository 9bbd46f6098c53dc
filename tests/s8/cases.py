"""Random cases for the s8 kernel harness (cmsis_nn_harness.c): the binary case and the
output nn2mcu's model (nn2mcu.s8.kernels) expects. Shared by the checks against a real
CMSIS-NN and against nn2mcu's portable s8 kernels."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nn2mcu.ops.add import LEFT_SHIFT, add_multipliers, add_s8
from nn2mcu.ops.conv2d import s8_convolution_lead
from nn2mcu.ops.depthwise_conv2d import s8_depthwise_lead
from nn2mcu.ops.fully_connected import four_row_blocks, one_rounding
from nn2mcu.ops.pool2d import s8_pool_lead
from nn2mcu.s8.arithmetic import quantize_multiplier
from nn2mcu.s8.kernels import conv_s8, depthwise_conv_s8, fully_connected_s8, pool_s8
from nn2mcu.s8.softmax import softmax_params, softmax_s8

HARNESS = Path(__file__).with_name("cmsis_nn_harness.c")
KINDS = {"conv": 0, "depthwise": 1, "fc": 2, "fc-per-channel": 3, "max": 4, "avg": 5,
         "softmax": 6, "add": 7, "fc-blocks": 8}  # fmt: skip
# the kinds only nn2mcu's portable kernels have (nn2mcu's own entry points)
PORTABLE_ONLY = frozenset({"fc-blocks"})


def _out(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    return (size + before + after - kernel) // stride + 1


# (h, w, c, kh, kw, sy, sx, (top, left, bottom, right)): TFLite SAME padding with stride 2
# on an even input pads (0, 1); the MLPerf KWS network's first layer (10 x 4 kernel, stride
# 2, on 49 x 10) pads (4, 5) and (1, 1)
ASYMMETRIC = {
    "same-stride-2": (8, 8, 4, 3, 3, 2, 2, (0, 0, 1, 1)),
    "kws-first-layer": (49, 10, 1, 10, 4, 2, 2, (4, 1, 5, 1)),
    "more-below": (7, 9, 3, 3, 2, 1, 2, (0, 1, 2, 0)),
}


def case(
    rng: np.random.Generator,
    kind: int,
    single_rounding: bool = False,
    geometry: tuple[int, int, int, int, int, int, int, tuple[int, int, int, int]] | None = None,
    overlay: bool = False,
) -> tuple[bytes, np.ndarray]:
    """A random case of ``kind``; with ``geometry`` (see ASYMMETRIC) of that shape; with
    ``overlay`` one image, and the output laid over the input at the lead nn2mcu's memory
    plan gives it (the harness built with HARNESS_OVERLAY)."""
    if kind == 6:
        return _softmax_case(rng)
    if kind == 7:
        return _add_case(rng, single_rounding, overlay)
    n = 1 if overlay or kind == 8 else int(rng.integers(1, 3))
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    c = int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    if kind == 0 and rng.random() < 0.2:  # long columns: the float64 path of the model
        c, h, w = int(rng.integers(33, 49)), int(rng.integers(4, 9)), int(rng.integers(4, 9))
        kh = kw = 4
    elif kind == 0 and rng.random() < 0.3:
        kh = kw = 1
    if kind == 0 and rng.random() < 0.2:
        kh, h = 1, 1  # 1xN
    sy, sx = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    # top, left, bottom, right: the kernels take top and left and the output size
    py, px = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    pb, pr = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    if kh == kw == 1 and kind == 0:
        py = px = pb = pr = 0
    if geometry is not None:
        h, w, c, kh, kw, sy, sx, (py, px, pb, pr) = geometry
    if kind == 8 and rng.random() < 0.3:  # longer rows: the loop's passes, odd and even
        h, w, c = 1, 1, int(rng.integers(9, 200))
    if kind in (2, 3, 8):
        out_h = out_w = 1
    else:
        out_h, out_w = _out(h, kh, sy, py, pb), _out(w, kw, sx, px, pr)
    ch_mult = int(rng.choice([1, 2, 3])) if kind == 1 and geometry is None else 1
    out_c = c * ch_mult if kind in (1, 4, 5) else int(rng.integers(1, 9 if kind != 8 else 14))
    input_offset = int(rng.integers(-127, 129))
    if (kind in (0, 2, 3) and rng.random() < 0.4) or kind == 8:  # offset folded into the bias
        input_offset = 0
    output_offset = int(rng.integers(-128, 128))
    low = int(rng.integers(-128, 0))
    high = int(rng.integers(0, 128))
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    if kind == 0:
        weight = rng.integers(-127, 128, (out_c, kh, kw, c)).astype(np.int8)
    elif kind == 1:
        weight = rng.integers(-127, 128, (1, kh, kw, out_c)).astype(np.int8)
    elif kind in (2, 3, 8):
        weight = rng.integers(-127, 128, (out_c, h * w * c)).astype(np.int8)
    else:
        weight = np.zeros(0, np.int8)
    bias = rng.integers(-5000, 5000, out_c).astype(np.int32)
    scales = rng.uniform(2e-5, 0.05, out_c)
    if rng.random() < 0.25:  # a channel at scale 1/4 or more: the kernels' general requantization
        scales[int(rng.integers(0, out_c))] = rng.uniform(0.25, 3.0)
    pairs = [quantize_multiplier(float(s)) for s in scales]
    if kind == 2:
        pairs = [pairs[0]] * out_c
    multiplier = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    if kind == 8:  # whether the requantization takes one rounding, in the ch_mult field
        ch_mult = int(one_rounding(multiplier, shift))
    header = [kind, n, h, w, c, out_h, out_w, out_c, kh, kw, sy, sx, py, px,
              input_offset, output_offset, low, high, ch_mult]  # fmt: skip
    payload = struct.pack("<19i", *header)
    if overlay:
        hw, stride, pad = (out_h, out_w), (sy, sx), (py, px, pb, pr)
        if kind == 0:
            lead = s8_convolution_lead((h, w, c), (*hw, out_c), stride, pad)
        elif kind == 1:
            lead = s8_depthwise_lead((h, w, c), hw, stride, pad, ch_mult)
        elif kind in (4, 5):
            lead = s8_pool_lead((h, w, c), hw, stride, pad)
        else:
            raise ValueError(f"kind {kind}: no output is laid over its input")
        payload += struct.pack("<2i", lead, 0)
    payload += (
        x.tobytes() + (four_row_blocks(weight) if kind == 8 else weight).astype(np.int8).tobytes()
    )
    payload += bias.tobytes() + multiplier.tobytes() + shift.tobytes()
    common = {"input_offset": input_offset, "output_offset": output_offset,
              "multiplier": multiplier, "shift": shift, "activation": (low, high),
              "single_rounding": single_rounding}  # fmt: skip
    if kind == 0:
        expected = conv_s8(x, weight, bias, stride=(sy, sx), pad=(py, px, pb, pr), **common)
    elif kind == 1:
        expected = depthwise_conv_s8(
            x, weight, bias, stride=(sy, sx), pad=(py, px, pb, pr), **common
        )
    elif kind in (2, 3, 8):
        expected = fully_connected_s8(x, weight, bias, **common)
    else:
        expected = pool_s8(x, kernel=(kh, kw), stride=(sy, sx), pad=(py, px, pb, pr),
                           out_shape=(out_h, out_w), average=kind == 5, activation=(low, high))  # fmt: skip
    return payload, expected


def _softmax_case(rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    rows, size = int(rng.integers(1, 5)), int(rng.integers(1, 40))
    multiplier, shift, diff_min = softmax_params(float(rng.uniform(0.01, 0.5)))
    x = rng.integers(-128, 128, (rows, size)).astype(np.int8)
    header = [6, rows, 1, 1, size, 1, 1, size, 1, 1, 1, 1, 0, 0, diff_min, 0, -128, 127, 0]
    quant = np.full(size, multiplier, np.int32).tobytes() + np.full(size, shift, np.int32).tobytes()
    payload = (
        struct.pack("<19i", *header) + x.tobytes() + np.zeros(size, np.int32).tobytes() + quant
    )
    return payload, softmax_s8(x, multiplier, shift, diff_min)


def _add_case(
    rng: np.random.Generator, single_rounding: bool, overlay: bool = False
) -> tuple[bytes, np.ndarray]:
    """Random int8 inputs and scales; the multipliers as TFLite Micro derives them; with
    ``overlay`` the output over one input or the other."""
    n, h, w, c = (int(rng.integers(1, 3)), int(rng.integers(1, 7)), int(rng.integers(1, 7)),
                  int(rng.integers(1, 9)))  # fmt: skip
    x1 = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    x2 = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    s1, s2 = (float(v) for v in rng.uniform(0.005, 0.1, 2))
    s_out = float(rng.uniform(0.3, 1.5)) * (s1 + s2)
    (m1, sh1), (m2, sh2), (mo, sho) = add_multipliers(s1, s2, s_out)
    o1, o2 = int(rng.integers(-127, 129)), int(rng.integers(-127, 129))
    out_offset = int(rng.integers(-128, 128))
    low, high = int(rng.integers(-128, -60)), int(rng.integers(60, 128))
    header = [7, n, h, w, c, h, w, 3, LEFT_SHIFT, 1, 1, 1, o2, 0, o1, out_offset, low, high, 0]
    payload = struct.pack("<19i", *header)
    if overlay:
        payload += struct.pack("<2i", 0, int(rng.integers(0, 2)))
    payload += x1.tobytes() + x2.tobytes()
    payload += np.zeros(3, np.int32).tobytes() + np.array([m1, m2, mo], np.int32).tobytes()
    payload += np.array([sh1, sh2, sho], np.int32).tobytes()
    expected = add_s8(
        x1, x2, input_1_offset=o1, input_1_mult=m1, input_1_shift=sh1, input_2_offset=o2,
        input_2_mult=m2, input_2_shift=sh2, left_shift=LEFT_SHIFT, out_offset=out_offset,
        out_mult=mo, out_shift=sho, activation=(low, high), single_rounding=single_rounding,
    )  # fmt: skip
    return payload, expected


def run_cases(
    binary: Path,
    kind: int,
    count: int,
    seed: int,
    single_rounding: bool = False,
    geometry: tuple[int, int, int, int, int, int, int, tuple[int, int, int, int]] | None = None,
    runner: Callable[[bytes], bytes] | None = None,
    overlay: bool = False,
) -> None:
    """Run ``count`` random cases (of ``geometry``, when given) through the harness binary
    (or ``runner``, which takes the cases and returns what the harness wrote); every output
    must match; ``overlay`` as for case."""
    rng = np.random.default_rng(seed)
    cases = [case(rng, kind, single_rounding, geometry, overlay) for _ in range(count)]
    payload = b"".join(p for p, _ in cases)
    if runner is None:
        run = subprocess.run([str(binary)], input=payload, capture_output=True, timeout=300)
        assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
        written = run.stdout
    else:
        written = runner(payload)
    offset = 0
    for index, (_, expected) in enumerate(cases):
        (status,) = struct.unpack_from("<i", written, offset)
        offset += 4
        got = np.frombuffer(written, np.int8, expected.size, offset).reshape(expected.shape)
        offset += expected.size
        assert status == 0, f"case {index}: status {status}"
        assert np.array_equal(got, expected), f"case {index}"
    assert offset == len(written)
