"""A folder of images: DIR/train/<class>/<image> and DIR/test/<class>/<image>.

Classes are the sub-folder names, sorted; label i is the i-th. All images must have
one size; they load as grey (C = 1) when every image is grey, else as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nn2mcu.datasets.base import Dataset, Split, as_labels
from nn2mcu.errors import InputError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff")


def has_folders(directory: Path) -> bool:
    return (directory / "train").is_dir() and (directory / "test").is_dir()


def _files(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = []
    for label, name in enumerate(classes):
        folder = split_dir / name
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in SUFFIXES:
                    files.append((path, label))
    return files


def load(directory: Path) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(
        {p.name for split in ("train", "test") for p in (directory / split).iterdir() if p.is_dir()}
    )
    if not classes:
        raise InputError(f"{directory}: train/ and test/ hold no class folders")
    listed = {split: _files(directory / split, classes) for split in ("train", "test")}
    images: dict[str, list[Image.Image]] = {}
    for split, files in listed.items():
        if not files:
            raise InputError(f"{directory / split}: no images ({', '.join(SUFFIXES)})")
        loaded: list[Image.Image] = []
        for path, _ in files:
            try:
                with Image.open(path) as opened:
                    opened.load()
                    loaded.append(opened.copy())
            except (OSError, UnidentifiedImageError) as error:
                raise InputError(f"{path}: not a readable image ({error})") from None
        images[split] = loaded
    everything = images["train"] + images["test"]
    grey = all(image.mode in ("L", "1", "I;16", "I") for image in everything)
    size = everything[0].size
    for (path, _), image in zip(listed["train"] + listed["test"], everything, strict=True):
        if image.size != size:
            raise InputError(
                f"{path}: {image.size[0]}x{image.size[1]} differs from {size[0]}x{size[1]}"
            )
    splits = {}
    for split in ("train", "test"):
        arrays = [
            np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8) for im in images[split]
        ]
        stacked = np.stack(arrays)
        if grey:
            stacked = stacked[..., None]
        splits[split] = Split(stacked, as_labels([label for _, label in listed[split]]))
    return Dataset(directory.name, splits["train"], splits["test"], tuple(classes))
