"""Moving a finished directory into place in one step."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from nn2mcu.filemode import make_public


def publish_directory(staging: Path, final: Path) -> None:
    """Give ``staging`` (made by tempfile, beside ``final``) the umask's mode and put it
    where ``final`` is, replacing an earlier ``final`` by renames only: a reader sees the
    old directory or the new one, never a mixture."""
    make_public(staging)
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(staging, final)
        shutil.rmtree(old)
    else:
        os.replace(staging, final)
