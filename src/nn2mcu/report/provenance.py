"""How a run was made, for its report: nn2mcu's version, the command, every input file with
its sha256, the data set (with a sha256 of the images and labels it read), scheme, target
and board."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from nn2mcu import __version__


def command_line(argv: Sequence[str] | None) -> str:
    """The command as a shell would take it again (``argv`` without the program name)."""
    return shlex.join(["nn2mcu", *(sys.argv[1:] if argv is None else argv)])


def provenance(
    *,
    command: str | None,
    inputs: Mapping[str, str],
    data: str | None,
    data_sha256: str | None,
    scheme: str,
    target: str,
    board: str | None,
) -> dict[str, Any]:
    return {
        "nn2mcu": __version__,
        "command": command,
        "inputs": [{"path": path, "sha256": digest} for path, digest in inputs.items()],
        "data": data,
        "data_sha256": data_sha256,
        "scheme": scheme,
        "target": target,
        "board": board,
    }
