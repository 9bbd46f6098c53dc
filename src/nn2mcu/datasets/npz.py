"""An .npz file with x_train, y_train, x_test, y_test (uint8 N x H x W [x C] images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nn2mcu.datasets.base import Dataset, labelled_split
from nn2mcu.errors import InputError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def load(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive]
            if missing:
                raise InputError(
                    f"{path}: missing arrays {', '.join(missing)} (needs {', '.join(KEYS)})"
                )
            arrays = {key: archive[key] for key in KEYS}
            classes = tuple(str(c) for c in archive["classes"]) if "classes" in archive else None
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable .npz file ({error})") from None
    splits = {}
    for split in ("train", "test"):
        images = arrays[f"x_{split}"]
        if images.dtype != np.uint8:
            raise InputError(f"{path}: x_{split} is {images.dtype}, expected uint8 pixels")
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise InputError(
                f"{path}: x_{split} has shape {list(images.shape)}, expected N x H x W [x C]"
            )
        splits[split] = labelled_split(
            np.ascontiguousarray(images), arrays[f"y_{split}"], f"{path}: x_{split}", f"y_{split}"
        )
    if classes is None:
        top = int(max(splits["train"].labels.max(initial=0), splits["test"].labels.max(initial=0)))
        classes = tuple(str(i) for i in range(top + 1))
    return Dataset(path.stem, splits["train"], splits["test"], classes)
