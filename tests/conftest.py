"""Shared test fixtures: the repository's example and the real Caffe files in shared/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "cifar10_m4_small"
EXAMPLE_NET = EXAMPLE / "cifar10_m4_small_train_test.prototxt"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden generated files under tests/golden instead of comparing",
    )


def shared_dir() -> Path:
    configured = os.environ.get("NN2MCU_SHARED")
    return Path(configured) if configured else REPO.parent / "shared"


@pytest.fixture(scope="session")
def arm_models() -> Path:
    """ARM's real Caffe files (shared/data/arm-cmsisnn-cifar10). Missing is a failure."""
    path = shared_dir() / "data" / "arm-cmsisnn-cifar10"
    if not (path / "cifar10_m4_train_test.prototxt").is_file():
        pytest.fail(
            f"ARM's CIFAR-10 Caffe files are not at {path}; set NN2MCU_SHARED to the shared/ "
            "directory that holds data/arm-cmsisnn-cifar10"
        )
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
