"""Data sets (``--data SPEC``): a known name or a path.

Names: ``fashion-mnist`` (the Debian package dataset-fashion-mnist, else the cache),
``mnist`` and ``cifar10`` (the cache, filled by ``nn2mcu download``), ``digits``
(bundled with scikit-learn). Paths: a directory of CIFAR-10 binary or python
batches, of MNIST-style IDX files (plain or .gz), or of images in train/<class>/ and
test/<class>/; or an .npz file with x_train, y_train, x_test, y_test.
"""

from __future__ import annotations

from pathlib import Path

from nn2mcu.datasets import cifar10, digits, folder, idx, npz
from nn2mcu.datasets.base import Dataset, Split
from nn2mcu.datasets.remote import SOURCES, cache_dir, dataset_dir, download
from nn2mcu.errors import InputError

NAMES = ("cifar10", "digits", "fashion-mnist", "mnist")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Image shapes (C, H, W) of the named data sets, known without reading them.
KNOWN_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion-mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
}

__all__ = [
    "KNOWN_SHAPES",
    "NAMES",
    "SOURCES",
    "Dataset",
    "Split",
    "cache_dir",
    "download",
    "image_shape",
    "is_spec",
    "load_dataset",
]


def _named_locations(name: str) -> list[Path]:
    if name == "fashion-mnist":
        return [DEBIAN_FASHION_MNIST, dataset_dir(name)]
    return [dataset_dir(name)]


def _load_directory(path: Path, name: str | None = None) -> Dataset | None:
    if cifar10.has_binary(path) or cifar10.has_python(path):
        return cifar10.load(path)
    if idx.has_idx(path):
        label = name or path.name
        classes = idx.FASHION_CLASSES if "fashion" in label else idx.DIGIT_CLASSES
        return idx.load(path, label, classes)
    if folder.has_folders(path):
        return folder.load(path)
    return None


def _how_to_get(name: str) -> str:
    if name == "fashion-mnist":
        return (
            "install the Debian package dataset-fashion-mnist "
            "(apt-get install dataset-fashion-mnist) or run 'nn2mcu download fashion-mnist'"
        )
    return f"run 'nn2mcu download {name}' (needs internet), or pass --data DIRECTORY"


def load_dataset(spec: str) -> Dataset:
    """Load the data set ``spec`` (both splits, into memory)."""
    if spec == "digits":
        return digits.load()
    if spec in NAMES:
        locations = _named_locations(spec)
        for location in locations:
            if location.is_dir():
                found = _load_directory(location, spec)
                if found is not None:
                    return found
        looked = ", ".join(str(p) for p in locations)
        raise InputError(f"data set '{spec}' not found (looked in {looked}): {_how_to_get(spec)}")
    path = Path(spec)
    if path.is_file() and path.suffix == ".npz":
        return npz.load(path)
    if path.is_dir():
        found = _load_directory(path)
        if found is not None:
            return found
        raise InputError(
            f"--data {spec}: found no CIFAR-10 batches, IDX files, or train/ and test/ image "
            "folders in this directory"
        )
    if path.exists():
        raise InputError(f"--data {spec}: a file that is not an .npz data set")
    raise InputError(f"--data {spec}: neither a known data set ({', '.join(NAMES)}) nor a path")


def is_spec(text: str) -> bool:
    """Whether ``text`` names a data set (a Data layer's source may)."""
    path = Path(text)
    return text in NAMES or (path.suffix == ".npz" and path.is_file()) or (
        path.is_dir() and (
            cifar10.has_binary(path) or cifar10.has_python(path) or idx.has_idx(path)
            or folder.has_folders(path)
        )
    )  # fmt: skip


def image_shape(spec: str) -> tuple[int, int, int]:
    """(C, H, W) of one image of ``spec``, reading as little as possible."""
    if spec in KNOWN_SHAPES:
        return KNOWN_SHAPES[spec]
    path = Path(spec)
    if path.is_dir() and (cifar10.has_binary(path) or cifar10.has_python(path)):
        return KNOWN_SHAPES["cifar10"]
    if path.is_dir() and idx.has_idx(path):
        images = idx.find(path, idx.FILES["train"][0])
        if images is not None:
            _, dims = idx.read_header(images)
            if len(dims) == 3:
                return (1, dims[1], dims[2])
    return load_dataset(spec).image_shape


def check_fits(dataset: Dataset, spec: str, shape: tuple[int, int, int], classes: int) -> None:
    """Refuse a data set whose images are not the network's input (H, W, C), or whose
    labels reach past its ``classes`` outputs, naming both sizes."""
    got = tuple(int(v) for v in dataset.test.images.shape[1:])
    if got != tuple(shape):
        raise InputError(
            f"--data {spec}: images are {'x'.join(map(str, got))} (HxWxC), the network takes "
            f"{'x'.join(map(str, shape))}"
        )
    largest = max(int(dataset.train.labels.max(initial=0)), int(dataset.test.labels.max(initial=0)))
    if largest >= classes:
        raise InputError(
            f"--data {spec}: labels reach {largest}, the network has {classes} outputs"
        )
