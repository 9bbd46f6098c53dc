"""Data set specifications (``--data SPEC``) and what can be known of them cheaply.

A SPEC is a known name or a path. For now this module answers one question, the
shape of one image (C, H, W), which Caffe Data layers need because they carry none.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from nn2mcu.errors import InputError

# Image shapes (C, H, W) of the data sets nn2mcu knows by name.
KNOWN_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion-mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
}

_CIFAR10_FILES = ("data_batch_1.bin", "test_batch.bin")
_IDX_IMAGE_FILES = (
    "train-images-idx3-ubyte",
    "train-images-idx3-ubyte.gz",
    "t10k-images-idx3-ubyte",
    "t10k-images-idx3-ubyte.gz",
)


def image_shape(spec: str) -> tuple[int, int, int]:
    """(C, H, W) of one image of the data set ``spec``."""
    if spec in KNOWN_SHAPES:
        return KNOWN_SHAPES[spec]
    path = Path(spec)
    if not path.exists():
        known = ", ".join(sorted(KNOWN_SHAPES))
        raise InputError(f"--data {spec}: neither a known data set ({known}) nor a path")
    if path.is_dir():
        if any((path / name).is_file() for name in _CIFAR10_FILES):
            return KNOWN_SHAPES["cifar10"]
        for name in _IDX_IMAGE_FILES:
            if (path / name).is_file():
                return _idx_image_shape(path / name)
        raise InputError(
            f"--data {spec}: no CIFAR-10 binary batches ({', '.join(_CIFAR10_FILES)}) "
            "or IDX image files found in this directory"
        )
    return _idx_image_shape(path)


def _idx_image_shape(path: Path) -> tuple[int, int, int]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    if len(header) < 16 or header[:2] != b"\0\0" or header[2] != 0x08 or header[3] != 3:
        raise InputError(f"{path}: not an IDX file of uint8 images (magic 0x00000803)")
    _count, rows, columns = struct.unpack(">III", header[4:16])
    return (1, rows, columns)
