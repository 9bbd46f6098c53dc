"""The mean image of a data set's training split, as Caffe's compute_image_mean makes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from nn2mcu.datasets import Dataset
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.files import write_binary


def image_mean(dataset: Dataset) -> npt.NDArray[np.float32]:
    """Per-pixel mean (C, H, W) of the training images, in float32."""
    images = dataset.train.images
    total = images.sum(axis=0, dtype=np.float64)  # exact: integers below 2**53
    mean = (total / len(images)).astype(np.float32)
    return np.ascontiguousarray(mean.transpose(2, 0, 1))


def write_mean_file(mean: npt.NDArray[np.float32], path: Path) -> None:
    """A BlobProto in compute_image_mean's form: num 1, channels, height, width, data."""
    channels, height, width = mean.shape
    blob = caffe_pb2.BlobProto(num=1, channels=channels, height=height, width=width)
    blob.data.extend(mean.ravel().tolist())
    write_binary(path, blob)
