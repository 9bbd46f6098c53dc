"""One ``nn2mcu run`` per output directory at a time: an advisory lock (fcntl) on
DIR/.nn2mcu-run.lock that holds the process id. A second run into a directory in use is
refused, naming the lock file and the process. The file is removed when the run ends;
the lock itself goes with the process, so a killed run blocks no later one."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from nn2mcu.errors import InputError

LOCK_NAME = ".nn2mcu-run.lock"


@contextlib.contextmanager
def run_lock(output: Path) -> Iterator[Path]:
    """Hold the run lock of ``output`` (made if missing) for the block."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / LOCK_NAME
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            raise InputError(
                f"-o {output}: another nn2mcu run uses it ({path} is held by process {holder})"
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # removed while still held: no run finds it stale
    finally:
        os.close(handle)
