"""Resolving the relative paths inside Caffe files.

Caffe resolves them against the directory it was started from (usually the Caffe
root), so a file at examples/x/solver.prototxt names its net examples/x/net.prototxt.
nn2mcu tries, in order: the path as given (absolute, or relative to the current
directory), then relative to the referring file's directory and each of its parents.
"""

from __future__ import annotations

from pathlib import Path


def candidates(name: str, referrer: Path) -> list[Path]:
    path = Path(name)
    if path.is_absolute():
        return [path]
    found: list[Path] = [Path.cwd() / path]
    directory = referrer.resolve().parent
    for base in (directory, *directory.parents):
        found.append(base / path)
    unique: dict[str, Path] = {}
    for candidate in found:
        unique.setdefault(str(candidate.resolve()), candidate)
    return list(unique.values())


def resolve(name: str, referrer: Path) -> tuple[Path | None, list[Path]]:
    """The first existing file among the candidates, and every place tried."""
    tried = candidates(name, referrer)
    for candidate in tried:
        if candidate.is_file():
            return candidate, tried
    return None, tried


def describe_tried(tried: list[Path], limit: int = 4) -> str:
    shown = [str(path) for path in tried[:limit]]
    more = len(tried) - limit
    return ", ".join(shown) + (f" and {more} parent directories" if more > 0 else "")
