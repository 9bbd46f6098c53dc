"""nn2mcu's models of the s8 kernels (nn2mcu.s8.kernels) against a real CMSIS-NN tree
built for the host, on random cases: convolutions (1x1, 1xN and generic, so every branch
of the wrapper), depthwise convolutions, fully-connected layers (per tensor and per
channel), max and average pooling, with padding, strides, offsets and activation ranges,
in both rounding modes. Runs only when CMSIS_NN_ROOT is set (CMSIS-NN is in no package
registry)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.s8.cases import HARNESS, KINDS, PORTABLE_ONLY, run_cases

pytestmark = pytest.mark.kernel

CMSIS_NN_ROOT = os.environ.get("CMSIS_NN_ROOT")
pytestmark = pytest.mark.skipif(
    not CMSIS_NN_ROOT, reason="CMSIS_NN_ROOT is not set (a CMSIS-NN tree, >= v4)"
)


@pytest.fixture(scope="module", params=[False, True], ids=["default", "single-rounding"])
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, bool]:
    assert CMSIS_NN_ROOT is not None
    root = Path(CMSIS_NN_ROOT)
    binary = tmp_path_factory.mktemp("cmsis_nn") / "harness"
    sources = sorted(str(p) for p in (root / "Source").rglob("*.c"))
    flags = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if request.param else []
    build = subprocess.run(
        ["gcc", "-O1", "-w", *flags, f"-I{root / 'Include'}", str(HARNESS), *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    return binary, request.param


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind not in PORTABLE_ONLY])
def test_kernel_matches_cmsis_nn(harness: tuple[Path, bool], kind: str) -> None:
    binary, single_rounding = harness
    run_cases(binary, KINDS[kind], 150, 1000 + KINDS[kind], single_rounding)
