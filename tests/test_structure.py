"""The redesign's structure (issue 14): operators are known by their own modules and their
bindings, not by the drivers. Outside ops/, frontends/ and passes/, the operator classes are
named only where a module is about one operator format (the CMSIS-NN CIFAR-10 example's
headers), and few isinstance checks on operators remain anywhere outside ops/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nn2mcu"
OPERATORS = ("Conv2D", "Pool2D", "FullyConnected", "DepthwiseConv2D", "Softmax", "ReLU", "ReLU6")
OPERATOR_MODULES = ("ops", "frontends", "passes")
ISINSTANCE = re.compile(r"isinstance\([a-z_.]*op\b")


def _modules(outside: tuple[str, ...]) -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in outside
    ]


def test_operator_classes_are_named_only_by_the_cmsis_example_headers() -> None:
    naming = {
        str(path.relative_to(PACKAGE))
        for path in _modules(OPERATOR_MODULES)
        for name in OPERATORS
        if re.search(rf"\b{name}\b", path.read_text())
    }
    assert naming == {"codegen/cifar10_example.py"}


def test_at_most_15_isinstance_checks_on_operators_outside_ops() -> None:
    checks = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in _modules(("ops",))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ISINSTANCE.search(line)
    ]
    assert len(checks) <= 15, checks


def test_every_operator_with_a_call_has_a_binding_or_a_refusal_in_each_scheme() -> None:
    from nn2mcu.ops import BINDINGS, OPS, REFUSALS
    from nn2mcu.ops.registry import SCHEME_NAMES

    for kind, op in OPS.items():
        if op.arity == 0:
            continue
        for scheme in SCHEME_NAMES:
            assert (kind, scheme) in BINDINGS or (kind, scheme) in REFUSALS, (kind, scheme)


def test_examples_track_sources_only() -> None:
    """The examples hold definitions, scripts and READMEs; what training or export writes
    there (weights, means, ONNX files and their external data) is ignored, not tracked."""
    root = PACKAGE.parents[1]
    tracked = subprocess.run(
        ["git", "ls-files", "examples"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files found nothing under examples/"
    made = [
        name for name in tracked if not name.endswith((".prototxt", ".md", ".py", ".gitignore"))
    ]
    assert made == []
