"""Run nn2mcu's Caffe front end over every prototxt in a Caffe checkout's examples/ and
models/ (BVLC/caffe; not part of this repository) and say, per file, what happened:

- loaded: parsed and built into nn2mcu's graph;
- refused (unsupported layer): parsed, then refused naming the layer and its type;
- refused (other): parsed, then refused for another reason, given in one line (a data
  source that is not on this machine, for example);
- NOT PARSED: the file did not parse as a Caffe net or solver (a schema gap).

Exits 1 when any file did not parse, or when any refusal is not one line naming the file.

    .venv/bin/python scripts/check_caffe_examples.py CAFFE_DIR
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.files import read_net_or_solver
from nn2mcu.frontends.caffe.loader import build_net, load_definition


def check(path: Path) -> tuple[str, str]:
    try:
        parsed = read_net_or_solver(path)
    except InputError as error:
        return "NOT PARSED", str(error)
    try:
        if isinstance(parsed, caffe_pb2.SolverParameter):
            net, net_path = load_definition(path, "TRAIN")
            build_net(net, net_path, phase="TRAIN")
        else:
            build_net(parsed, path)
    except InputError as error:
        message = str(error)
        if "\n" in message or not message.startswith(str(path.parent)):
            return "BAD REFUSAL", message
        if "which nn2mcu does not support; supported:" in message:
            return "refused (unsupported layer)", message
        return "refused (other)", message
    return "loaded", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("caffe", type=Path, help="a Caffe checkout (with examples/ and models/)")
    args = parser.parse_args()
    root = args.caffe.resolve()
    files = sorted(
        p for folder in ("examples", "models") for p in (root / folder).rglob("*.prototxt")
    )
    if not files:
        print(f"{root}: no prototxt files under examples/ or models/", file=sys.stderr)
        return 2
    os.chdir(root)  # solvers name their nets relative to Caffe's root
    counts: collections.Counter[str] = collections.Counter()
    for path in files:
        outcome, message = check(path)
        counts[outcome] += 1
        shown = message.replace(str(path), "").lstrip(": ") if message else ""
        print(f"{outcome:28} {path.relative_to(root)}{': ' + shown if shown else ''}")
    print(", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    return 1 if counts["NOT PARSED"] or counts["BAD REFUSAL"] else 0


if __name__ == "__main__":
    sys.exit(main())
