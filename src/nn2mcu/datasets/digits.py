"""scikit-learn's digits: 1,797 8 x 8 grey images of the digits 0-9, bundled with it.

Pixels (0..16) become uint8 as round(v * 255 / 16). Split: the first 1,437 images
train, the last 360 test (a fixed split, about 80/20, in the data set's own order).
"""

from __future__ import annotations

import numpy as np

from nn2mcu.datasets.base import Dataset, Split, as_labels

TRAIN_COUNT = 1437


def load() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * 255.0 / 16.0).astype(np.uint8)
    images = images[..., None]
    labels = as_labels(bunch.target)
    return Dataset(
        "digits",
        Split(images[:TRAIN_COUNT].copy(), labels[:TRAIN_COUNT].copy()),
        Split(images[TRAIN_COUNT:].copy(), labels[TRAIN_COUNT:].copy()),
        tuple(str(d) for d in range(10)),
    )
