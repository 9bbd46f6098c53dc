"""CIFAR-10: the official binary version (data_batch_N.bin) or the python version.

Binary records: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (32 x 32 row-major).
The python version pickles dicts {b"data": uint8 (10000, 3072), b"labels": [...]};
they are read with an unpickler that only admits numpy arrays and plain values.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from nn2mcu.datasets.base import Dataset, Split, as_labels, labelled_split
from nn2mcu.errors import InputError

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
RECORD = 1 + 3 * 32 * 32


def has_binary(directory: Path) -> bool:
    return all((directory / f"{name}.bin").is_file() for name in (*TRAIN_BATCHES, "test_batch"))


def has_python(directory: Path) -> bool:
    return all((directory / name).is_file() for name in (*TRAIN_BATCHES, "test_batch"))


def _planes_to_hwc(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _read_binary(path: Path) -> Split:
    data = np.fromfile(path, dtype=np.uint8)
    if data.size % RECORD:
        raise InputError(
            f"{path}: {data.size} bytes is not a whole number of {RECORD}-byte records"
        )
    records = data.reshape(-1, RECORD)
    return Split(_planes_to_hwc(records[:, 1:]), as_labels(records[:, 0]))


class _ArraysOnly(pickle.Unpickler):
    allowed: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_python(path: Path) -> Split:
    try:
        with path.open("rb") as handle:
            batch = _ArraysOnly(handle, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = as_labels(batch[b"labels"])
    except Exception as error:  # unpickling damaged bytes raises whatever they decode to
        message = " ".join(str(error).split())[:200]
        raise InputError(
            f"{path}: not a CIFAR-10 python batch ({type(error).__name__}: {message})"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(f"{path}: data has shape {list(data.shape)}, expected N x 3072")
    return labelled_split(_planes_to_hwc(data), labels, f"{path}: data", "labels")


def _concat(splits: list[Split]) -> Split:
    return Split(
        np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits])
    )


def load(directory: Path) -> Dataset:
    if has_binary(directory):
        train = _concat([_read_binary(directory / f"{name}.bin") for name in TRAIN_BATCHES])
        test = _read_binary(directory / "test_batch.bin")
    elif has_python(directory):
        train = _concat([_read_python(directory / name) for name in TRAIN_BATCHES])
        test = _read_python(directory / "test_batch")
    else:
        raise InputError(
            f"{directory}: no CIFAR-10 batches (data_batch_1..5[.bin], test_batch[.bin])"
        )
    return Dataset("cifar10", train, test, CLASSES)
