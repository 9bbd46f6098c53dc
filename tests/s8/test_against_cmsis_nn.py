"""arm_nn_requantize from a real CMSIS-NN tree (CMSIS_NN_ROOT, v4 or later) against
nn2mcu's model of it, on random values, in both rounding modes. Runs only when
CMSIS_NN_ROOT is set (CMSIS-NN is in no package registry)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.s8.arithmetic import requantize

pytestmark = pytest.mark.kernel

CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")

PROGRAM = r"""
#include <stdio.h>
#include "arm_nnsupportfunctions.h"

int main(void)
{
    long value, multiplier, shift;
    while (scanf("%ld %ld %ld", &value, &multiplier, &shift) == 3) {
        printf("%ld\n", (long)arm_nn_requantize((int32_t)value, (int32_t)multiplier, (int32_t)shift));
    }
    return 0;
}
"""


@pytest.mark.skipif(not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT is not set (a CMSIS-NN tree, >= v4)")
@pytest.mark.parametrize("single_rounding", [False, True])
def test_requantize_matches_cmsis_nn(tmp_path: Path, single_rounding: bool) -> None:
    assert CMSIS_NN_ROOT is not None
    source = tmp_path / "requantize.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "requantize"
    flags = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single_rounding else []
    build = subprocess.run(
        ["gcc", "-O1", *flags, f"-I{Path(CMSIS_NN_ROOT) / 'Include'}", str(source), "-o", str(binary)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    rng = np.random.default_rng(7)
    count = 20000
    # accumulators of int8 products, Q31 multipliers in [2^30, 2^31), shifts -31..0 and
    # small left shifts whose product stays within int32
    values = rng.integers(-(1 << 20), 1 << 20, count)
    multipliers = rng.integers(1 << 30, (1 << 31) - 1, count)
    shifts = rng.integers(-31, 1, count)
    shifts[: count // 10] = rng.integers(1, 10, count // 10)
    values[: count // 10] >>= 10
    text = "\n".join(f"{v} {m} {s}" for v, m, s in zip(values, multipliers, shifts, strict=True))
    run = subprocess.run([str(binary)], input=text, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = np.array([int(line) for line in run.stdout.split()])
    expected = requantize(values, multipliers, shifts, single_rounding=single_rounding)
    assert np.array_equal(got, expected)
