"""The four example networks in both schemes, regenerated from model files made before the
redesign (tests/golden/make-baseline at the commit before it): every generated file must
have the sha256 recorded then (sha256.txt), except the changes listed, file by file, in
changes.txt (reviewed like any other diff; pytest --update-golden rewrites them). The
portable kernels (kernels/) must be verbatim copies of the package's current kernels: at
the redesign they equalled the recorded hashes but for the one new header, and later
kernel work is checked by the kernel tier. The model files are schema version 1, so this
also reads the old two-value padding.

Also unchanged: the arena of each program, the simulated accuracy on the full test set,
and the instructions per inference on the emulated Cortex-M4 (median of 20 images), but for
the changes baseline.txt notes (instructions_changed, with the reason).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import lower
from nn2mcu.modelfile import read_quantized
from tests.conftest import shared_dir

NETWORKS = Path(__file__).resolve().parent / "networks"
NAMES = sorted(path.name for path in NETWORKS.iterdir() if (path / "model.json").is_file())
DATA = {
    "fashion": "fashion-mnist",
    "pytorch": "fashion-mnist",
    "cifar-seed": "cifar10",
    "arm-m7": "cifar10",
}


def _hashes(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        digest, path = line.split(maxsplit=1)
        entries[path.removeprefix("./")] = digest
    return entries


def _tree(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _baseline(name: str) -> dict[str, str]:
    lines = (NETWORKS / name / "baseline.txt").read_text().splitlines()
    return dict(line.split(maxsplit=1) for line in lines)


def _expected(name: str, listing: str) -> dict[str, str]:
    expected = {
        path: digest
        for path, digest in _hashes((NETWORKS / name / listing).read_text()).items()
        if not path.startswith("kernels/")
    }
    changes = NETWORKS / name / listing.replace("sha256", "changes")
    if changes.is_file():
        for path, digest in _hashes(changes.read_text()).items():
            if digest == "deleted":
                expected.pop(path)
            else:
                expected[path] = digest
    return expected


def _kernels(scheme: str) -> dict[str, str]:
    """The sha256 of each portable kernel file a project of ``scheme`` copies."""
    from nn2mcu.schemes import SCHEMES

    return {
        f"kernels/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in SCHEMES[scheme].kernel_files
    }


def _compare(name: str, listing: str, got: dict[str, str], update: bool) -> None:
    kernels = {path: got.pop(path) for path in sorted(got) if path.startswith("kernels/")}
    assert kernels == _kernels(name.rsplit("-", 1)[1]), f"{name}: kernels/ is not a verbatim copy"
    before = {
        path: digest
        for path, digest in _hashes((NETWORKS / name / listing).read_text()).items()
        if not path.startswith("kernels/")
    }
    if update:
        lines = [f"{got[path]}  ./{path}" for path in sorted(got) if before.get(path) != got[path]]
        lines += [f"deleted  ./{path}" for path in sorted(set(before) - set(got))]
        changes = NETWORKS / name / listing.replace("sha256", "changes")
        if lines:
            changes.write_text("\n".join(lines) + "\n")
        else:
            changes.unlink(missing_ok=True)
    expected = _expected(name, listing)
    differing = sorted(
        path for path in set(got) | set(expected) if got.get(path) != expected.get(path)
    )
    assert not differing, (
        f"{name}: generated files differ from the golden hashes: {differing}; if intended, run "
        "pytest --update-golden and review the diff of changes.txt"
    )


@pytest.mark.parametrize("name", NAMES)
def test_generated_projects_are_unchanged(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    update = bool(request.config.getoption("--update-golden"))
    program = lower(read_quantized(NETWORKS / name / "model.json"))
    generate_atomically(program, tmp_path / "p")
    _compare(name, "sha256.txt", _tree(tmp_path / "p"), update)
    if (NETWORKS / name / "sha256-compat.txt").is_file():
        generate_atomically(program, tmp_path / "c", compat="cmsis-cifar10-example")
        _compare(name, "sha256-compat.txt", _tree(tmp_path / "c"), update)
    assert program.arena_size == int(_baseline(name)["arena_bytes"])


def test_the_expected_changes_are_the_s8_input_stage_and_the_weights_split() -> None:
    """The intended changes to the generated files: the redesign's s8 nn.c takes its
    requantization from the kernels' header (arm_nnsupportfunctions.h, new in the portable
    set); issue 18 defines the arrays once in weights.c (new) with extern declarations in
    weights.h, moves the alignment macro into parameter.h with compile-time checks (nn.c
    checks the arena), builds weights.c in the Makefile and adds CMakeLists.txt, its
    toolchain file and the project's README.md; s8 nn.c casts the quantization arrays by
    way of uintptr_t. nn.h, main.c and the compat headers are as they were."""
    split = [
        "CMakeLists.txt", "Makefile", "README.md", "cmake/arm-none-eabi.cmake", "nn.c",
        "parameter.h", "weights.c", "weights.h",
    ]  # fmt: skip
    for listing in ("changes.txt", "changes-compat.txt"):
        changed = {
            name: sorted(_hashes((NETWORKS / name / listing).read_text()))
            for name in NAMES
            if (NETWORKS / name / listing).is_file()
        }
        expected_names = [
            name for name in NAMES if (NETWORKS / name / "sha256-compat.txt").is_file()
        ]
        assert changed == {
            name: split for name in (NAMES if listing == "changes.txt" else expected_names)
        }


def _dataset(name: str) -> str:
    spec = DATA[name.rsplit("-", 1)[0]]
    return str(shared_dir() / "data" / "cifar10-jpeg") if spec == "cifar10" else spec


@pytest.mark.parametrize("name", NAMES)
def test_simulated_accuracy_is_unchanged(name: str) -> None:
    from nn2mcu.datasets import load_dataset
    from nn2mcu.simulate import classify, simulate

    model = read_quantized(NETWORKS / name / "model.json")
    test = load_dataset(_dataset(name)).test
    predicted = np.concatenate(
        [
            classify(model, simulate(model, test.images[start : start + 1000]))
            for start in range(0, len(test), 1000)
        ]
    )
    assert float(np.mean(predicted == test.labels)) == float(_baseline(name)["accuracy"])
    recorded = json.loads((NETWORKS / name / "model.json").read_text())["report"]
    assert recorded["float_accuracy"] == float(_baseline(name)["float_accuracy"])


@pytest.mark.cortex_m
@pytest.mark.parametrize("name", NAMES)
def test_cortex_m4_instructions_are_unchanged(name: str, tmp_path: Path) -> None:
    from nn2mcu.codegen.verify import VerifyOptions, verify_program
    from nn2mcu.datasets import load_dataset

    program = lower(read_quantized(NETWORKS / name / "model.json"))
    test = load_dataset(_dataset(name)).test
    result = verify_program(
        program, test.images[:20], test.labels[:20], VerifyOptions(target="cortex-m4")
    )
    assert result.summary["mismatches"] == 0
    assert result.summary["instructions_per_inference"] == int(
        _baseline(name)["instructions_per_inference"]
    )
