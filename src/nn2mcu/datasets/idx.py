"""MNIST-style IDX files (plain or gzip-compressed), as MNIST and Fashion-MNIST ship."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nn2mcu.datasets.base import Dataset, labelled_split
from nn2mcu.errors import InputError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(d) for d in range(10))


def find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx(directory: Path) -> bool:
    return all(find(directory, name) for pair in FILES.values() for name in pair)


def read_header(path: Path) -> tuple[int, tuple[int, ...]]:
    """(type code, dims) of an IDX file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) != 4 or head[:2] != b"\0\0":
                raise InputError(f"{path}: not an IDX file")
            dims = struct.unpack(f">{head[3]}I", handle.read(4 * head[3]))
    except (OSError, EOFError, struct.error) as error:
        raise InputError(f"{path}: cannot read IDX header: {error}") from None
    return head[2], dims


def read(path: Path) -> npt.NDArray[np.uint8]:
    opener = gzip.open if path.name.endswith(".gz") else open
    code, dims = read_header(path)
    if code != 0x08:
        raise InputError(f"{path}: IDX type 0x{code:02x} is not unsigned bytes")
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    offset = 4 + 4 * len(dims)
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise InputError(f"{path}: holds {len(data) - offset} bytes, its header says {count}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def load(directory: Path, name: str, classes: tuple[str, ...]) -> Dataset:
    splits = {}
    for split, (images_name, labels_name) in FILES.items():
        images_path, labels_path = find(directory, images_name), find(directory, labels_name)
        if images_path is None or labels_path is None:
            raise InputError(f"{directory}: {images_name}[.gz] or {labels_name}[.gz] is missing")
        images = read(images_path)
        if images.ndim != 3:
            raise InputError(f"{images_path}: expected N x H x W images, got {list(images.shape)}")
        splits[split] = labelled_split(
            images[..., None].copy(), read(labels_path), str(images_path), str(labels_path)
        )
    return Dataset(name, splits["train"], splits["test"], classes)
