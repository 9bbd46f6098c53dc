"""Stages of ``nn2mcu run``, each committed atomically under DIR/stages/<n>-<name>/.

A stage's key is a JSON-able description of everything it depends on (file hashes,
options, the hashes of the stages before it, nn2mcu's version and a hash of its code);
its hash is stored in stage.json. A rerun reuses a stage only when the stored hash
equals the new one; otherwise the stage is computed in a temporary directory beside the
final one and moved into place when complete, so an interrupted run leaves only whole
stages behind.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nn2mcu import __version__
from nn2mcu.atomic import publish_directory
from nn2mcu.modelfile import sha256_file

STAGE_FILE = "stage.json"


def tree_hash(root: Path) -> str:
    """A hash of every file's relative path and contents under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


PACKAGE = Path(__file__).resolve().parent.parent
CODE_SUFFIXES = (".py", ".c", ".h", ".ld", ".proto")


@functools.cache
def code_hash() -> str:
    """A hash of nn2mcu's own code (Python, kernels, target files): a stage computed by
    other code is not reused."""
    digest = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in CODE_SUFFIXES):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def key_hash(key: dict[str, Any]) -> str:
    text = json.dumps(
        {"nn2mcu": __version__, "code": code_hash(), **key}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def remove_leftovers(directory: Path) -> None:
    """Delete the hidden temporary entries an interrupted (killed) run left in
    ``directory``: nn2mcu names them with a leading dot."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name.startswith("."):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


class Stages:
    def __init__(self, output: Path, log: Callable[[str], None]) -> None:
        self.root = output / "stages"
        self.log = log
        remove_leftovers(self.root)

    def run(
        self, index: int, name: str, key: dict[str, Any], produce: Callable[[Path], None]
    ) -> tuple[Path, str]:
        """The stage's directory and hash: reused when its hash matches, else produced."""
        digest = key_hash(key)
        final = self.root / f"{index}-{name}"
        record = final / STAGE_FILE
        if record.is_file():
            try:
                stored = json.loads(record.read_text()).get("hash")
            except (OSError, ValueError):
                stored = None
            if stored == digest:
                self.log(f"== {index}-{name}: unchanged, reused ({final})")
                return final, digest
        self.log(f"== {index}-{name}")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{index}-{name}.", dir=self.root))
        try:
            produce(staging)
            (staging / STAGE_FILE).write_text(
                json.dumps({"stage": name, "hash": digest, "key": key}, indent=2, default=str)
                + "\n"
            )
            publish_directory(staging, final)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return final, digest
