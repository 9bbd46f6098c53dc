"""Models shared by the code-generation tests: ARM's trained M4 network (the seed's
topology) on a CIFAR-10-JPEG subset, and the Fashion-MNIST example briefly trained."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.datasets import load_dataset
from tests.conftest import REPO, shared_dir
from tests.train.conftest import Files

SCRIPT = Path(sys.executable).parent / "nn2mcu"
TEST_IMAGES = 200


def nn2mcu(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The nn2mcu command in ``cwd``, with ``env`` added to this process's environment."""
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=1800,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip


@dataclass(frozen=True)
class Quantized:
    model: Path  # model.json
    data: Path  # the .npz data set it was quantized on (TEST_IMAGES test images)


def _subset(root: Path, spec: str, train: int) -> Path:
    data = load_dataset(spec)
    path = root / "data.npz"
    np.savez(
        path,
        x_train=data.train.images[:train],
        y_train=data.train.labels[:train],
        x_test=data.test.images[:TEST_IMAGES],
        y_test=data.test.labels[:TEST_IMAGES],
    )
    result = nn2mcu("mean", "--data", path, "-o", root / "mean.binaryproto", cwd=root)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def cifar_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 training and 200 test images of CIFAR-10-JPEG, and their mean file beside."""
    root = tmp_path_factory.mktemp("cifar_subset")
    return _subset(root, str(shared_dir() / "data" / "cifar10-jpeg"), 1000)


def quantize_arm_m4(root: Path, arm_models: Path, data: Path, *, max_pools: bool) -> Path:
    """ARM's trained M4 network, as it is (version (a) of CMSIS-NN's example) or with max
    pools throughout and a per-channel mean (version (b))."""
    net = arm_models / "cifar10_m4_train_test.prototxt"
    name = "m4_max" if max_pools else "m4"
    if max_pools:
        text = net.read_text().replace("pool: AVE", "pool: MAX")
        text, count = re.subn(
            r'mean_file: "[^"]*"', "mean_value: 125 mean_value: 123 mean_value: 114", text
        )
        assert count == 2
        net = root / f"{name}.prototxt"
        net.write_text(text)
    out = root / f"{name}.json"
    args = ["quantize", net, "--weights", arm_models / "cifar10_m4_iter_70000.caffemodel.h5"]
    args += ["--data", data, "--calibration", 300, "-o", out]
    if not max_pools:
        args += ["--mean", data.parent / "mean.binaryproto"]
    result = nn2mcu(*args, cwd=root)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def arm_m4(cifar_subset: Path, arm_models: Path) -> Quantized:
    return Quantized(
        quantize_arm_m4(cifar_subset.parent, arm_models, cifar_subset, max_pools=False),
        cifar_subset,
    )


@pytest.fixture(scope="session")
def fashion_example(tmp_path_factory: pytest.TempPathFactory) -> Quantized:
    """examples/fashion_mnist trained for 300 iterations on 3,000 images, then quantized."""
    root = tmp_path_factory.mktemp("fashion_example")
    data = _subset(root, "fashion-mnist", 3000)
    net = root / "fashion.prototxt"
    text = (REPO / "examples" / "fashion_mnist" / "fashion_mnist_train_test.prototxt").read_text()
    net.write_text(
        text.replace("examples/fashion_mnist/mean.binaryproto", str(root / "mean.binaryproto"))
    )
    solver = Files(root).solver(
        "solver.prototxt", net=net, max_iter=300, test_interval=0, base_lr=0.001,
        lr_policy="fixed", prefix="fashion", extra="snapshot_format: HDF5",
    )  # fmt: skip
    result = nn2mcu("train", solver, "--data", data, "--no-progress", cwd=root)
    assert result.returncode == 0, result.stderr
    out = root / "fashion.json"
    result = nn2mcu(
        "quantize", net, "--weights", root / "fashion_iter_300.caffemodel.h5", "--data", data,
        "--calibration", 500, "-o", out, cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return Quantized(out, data)
