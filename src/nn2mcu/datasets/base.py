"""The data set interface: uint8 HWC images with integer labels, a train and a test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError


@dataclass(frozen=True)
class Split:
    """Images (N, H, W, C) uint8 and labels (N,) int64."""

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 N x H x W x C, got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"{self.images.shape[0]} images but labels of shape {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W), as Caffe states shapes."""
        _, h, w, c = self.images.shape
        return (int(c), int(h), int(w))


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.train.image_shape != self.test.image_shape:
            raise InputError(
                f"{self.name}: train images are {self.train.image_shape} (C,H,W) but test images "
                f"{self.test.image_shape}"
            )
        for split in (self.train, self.test):
            if len(split) and (split.labels.min() < 0 or split.labels.max() >= len(self.classes)):
                raise InputError(
                    f"{self.name}: labels must lie in 0..{len(self.classes) - 1}, found "
                    f"{int(split.labels.min())}..{int(split.labels.max())}"
                )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    def split(self, phase: str) -> Split:
        """The training split for the TRAIN phase, the test split for TEST."""
        return self.train if phase == "TRAIN" else self.test


def as_labels(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def labelled_split(
    images: npt.NDArray[np.uint8], labels: npt.ArrayLike, images_name: str, labels_name: str
) -> Split:
    """A Split, or an InputError naming both sources when the label count is not the
    image count (or the labels are not one per image)."""
    array = as_labels(labels)
    if array.ndim != 1 or array.shape[0] != images.shape[0]:
        held = (
            f"{array.shape[0]} labels"
            if array.ndim == 1
            else f"labels of shape {list(array.shape)}"
        )
        raise InputError(
            f"{images_name} holds {images.shape[0]} images but {labels_name} holds {held}"
        )
    return Split(images, array)
