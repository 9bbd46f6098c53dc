"""Modes for files and directories made through tempfile (which creates them private, 0600
and 0700): before they are moved into place they get the modes a plain open() or mkdir()
would have given them under the user's umask."""

from __future__ import annotations

import os
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_public(path: Path) -> None:
    """chmod ``path`` (a file, or a directory) to 0666 or 0777 less the umask."""
    mode = 0o777 if path.is_dir() else 0o666
    os.chmod(path, mode & ~_umask())
