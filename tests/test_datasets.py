"""Data set loaders on fixtures written here, the named sets, and downloads over loopback."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from nn2mcu import datasets
from nn2mcu.datasets import image_shape, is_spec, load_dataset
from nn2mcu.datasets import remote as download_module
from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe.files import read_mean_file
from nn2mcu.mean import image_mean, write_mean_file

RNG = np.random.default_rng(0)
BATCHES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
)


def cifar_records(count: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    images = RNG.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = RNG.integers(0, 10, count, dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(count, 3072)
    return images, labels, np.concatenate([labels[:, None], planes], axis=1).tobytes()


def test_cifar10_binary(tmp_path: Path) -> None:
    expected = []
    for name in BATCHES:
        images, labels, raw = cifar_records(3)
        (tmp_path / f"{name}.bin").write_bytes(raw)
        expected.append((images, labels))
    data = load_dataset(str(tmp_path))
    assert data.name == "cifar10" and data.classes[0] == "airplane"
    np.testing.assert_array_equal(data.train.images[:3], expected[0][0])  # R, G, B planes -> HWC
    np.testing.assert_array_equal(data.train.labels[3:6], expected[1][1])
    np.testing.assert_array_equal(data.test.images, expected[5][0])
    assert len(data.train) == 15 and image_shape(str(tmp_path)) == (3, 32, 32)
    assert is_spec(str(tmp_path))


def test_cifar10_python_version(tmp_path: Path) -> None:
    expected = []
    for name in BATCHES:
        images, labels, _ = cifar_records(2)
        batch = {b"data": images.transpose(0, 3, 1, 2).reshape(2, 3072), b"labels": labels.tolist()}
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
        expected.append((images, labels))
    data = load_dataset(str(tmp_path))
    np.testing.assert_array_equal(data.test.images, expected[5][0])
    np.testing.assert_array_equal(data.train.labels[:2], expected[0][1])


def test_cifar10_python_refuses_other_objects(tmp_path: Path) -> None:
    for name in BATCHES:
        (tmp_path / name).write_bytes(pickle.dumps({b"data": Path("x")}))
    with pytest.raises(InputError, match=r"not a CIFAR-10 python batch .*refusing to load pathlib"):
        load_dataset(str(tmp_path))


def idx_bytes(array: np.ndarray) -> bytes:
    return (
        b"\0\0\x08"
        + bytes([array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.tobytes()
    )


@pytest.mark.parametrize("compressed", [False, True])
def test_idx_directory(tmp_path: Path, compressed: bool) -> None:
    train = RNG.integers(0, 256, (5, 6, 7), dtype=np.uint8)
    test = RNG.integers(0, 256, (2, 6, 7), dtype=np.uint8)
    files = {
        "train-images-idx3-ubyte": train, "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 9], np.uint8),
        "t10k-images-idx3-ubyte": test, "t10k-labels-idx1-ubyte": np.array([5, 4], np.uint8),
    }  # fmt: skip
    for name, array in files.items():
        raw = idx_bytes(array)
        if compressed:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    data = load_dataset(str(tmp_path))
    np.testing.assert_array_equal(data.train.images[..., 0], train)
    assert data.test.labels.tolist() == [5, 4]
    assert image_shape(str(tmp_path)) == (1, 6, 7)


def test_idx_truncated(tmp_path: Path) -> None:
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (tmp_path / name).write_bytes(
            idx_bytes(np.zeros((3, 2, 2) if "images" in name else (3,), np.uint8))[:-1]
        )
    with pytest.raises(InputError, match="holds 11 bytes, its header says 12"):
        load_dataset(str(tmp_path))


def test_npz(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, x_train=np.zeros((4, 5, 5), np.uint8), y_train=np.array([0, 1, 2, 1]),
             x_test=np.full((2, 5, 5), 7, np.uint8), y_test=np.array([2, 0]))  # fmt: skip
    data = load_dataset(str(path))
    assert data.train.images.shape == (4, 5, 5, 1) and data.classes == ("0", "1", "2")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((1, 2, 2)), y_train=[0], x_test=np.zeros((1, 2, 2)), y_test=[0])
    with pytest.raises(InputError, match="x_train is float64, expected uint8 pixels"):
        load_dataset(str(bad))
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(InputError, match="missing arrays y_train, x_test, y_test"):
        load_dataset(str(partial))


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for split, count in (("train", 3), ("test", 1)):
        for label in ("cat", "dog"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(np.full((4, 6, 3), 10 * i, np.uint8)).save(folder / f"{i}.png")
    data = load_dataset(str(tmp_path))
    assert data.classes == ("cat", "dog")
    assert data.train.images.shape == (6, 4, 6, 3)
    assert data.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.train.images[1].max() == 10


def test_digits() -> None:
    data = load_dataset("digits")
    assert (len(data.train), len(data.test)) == (1437, 360)
    assert data.train.images.shape[1:] == (8, 8, 1)
    # sklearn's pixels 0..16 scaled to 0..255 and rounded
    assert data.train.images.max() == 255
    assert set(np.unique(data.train.images)) <= {round(v * 255 / 16) for v in range(17)}


def test_fashion_mnist_from_the_debian_package() -> None:
    data = load_dataset("fashion-mnist")
    assert (len(data.train), len(data.test)) == (60000, 10000)
    assert data.classes[9] == "Ankle boot"


def test_missing_named_data_set_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NN2MCU_CACHE", str(tmp_path))
    with pytest.raises(InputError) as error:
        load_dataset("cifar10")
    message = str(error.value)
    assert f"looked in {tmp_path / 'cifar10'}" in message
    assert "nn2mcu download cifar10" in message
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_mean_like_compute_image_mean(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    x = np.array([[[0, 255], [3, 4]], [[1, 0], [4, 4]], [[2, 0], [4, 5]]], np.uint8)
    np.savez(path, x_train=x, y_train=[0, 0, 0], x_test=x[:1], y_test=[0])
    mean = image_mean(load_dataset(str(path)))
    np.testing.assert_array_equal(mean, np.array([[[1.0, 85.0], [11 / 3, 13 / 3]]], np.float32))
    out = tmp_path / "mean.binaryproto"
    write_mean_file(mean, out)
    np.testing.assert_array_equal(read_mean_file(out), mean)
    from nn2mcu.frontends.caffe.files import read_blob_binary

    blob = read_blob_binary(out)
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 1, 2, 2)
    assert not blob.HasField("shape")


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_download_checks_md5_and_extracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name in BATCHES:
            raw = cifar_records(1)[2]
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}.bin")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    body = archive.getvalue()
    _Handler.files = {"/cifar.tar.gz": body}
    good = download_module.Remote(
        f"{server}/cifar.tar.gz", hashlib.md5(body).hexdigest(), extract=True
    )
    monkeypatch.setenv("NN2MCU_CACHE", str(tmp_path))
    monkeypatch.setitem(download_module.SOURCES, "cifar10", (good,))
    assert datasets.download("cifar10") == tmp_path / "cifar10"
    assert len(load_dataset("cifar10").train) == 5
    bad = download_module.Remote(f"{server}/cifar.tar.gz", "0" * 32, extract=True)
    monkeypatch.setitem(download_module.SOURCES, "cifar10", (bad,))
    with pytest.raises(InputError, match="differs from the published 0000"):
        datasets.download("cifar10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10"]  # nothing half-written
    missing = download_module.Remote(f"{server}/missing.gz", "0" * 32)
    monkeypatch.setitem(download_module.SOURCES, "mnist", (missing,))
    with pytest.raises(InputError, match=r"cannot download .*missing\.gz"):
        datasets.download("mnist")


def test_idx_label_count_differs_from_image_count(tmp_path: Path) -> None:
    counts = {"train-images-idx3-ubyte": 4, "train-labels-idx1-ubyte": 3,
              "t10k-images-idx3-ubyte": 2, "t10k-labels-idx1-ubyte": 2}  # fmt: skip
    for name, count in counts.items():
        shape = (count, 2, 2) if "images" in name else (count,)
        (tmp_path / name).write_bytes(idx_bytes(np.zeros(shape, np.uint8)))
    with pytest.raises(
        InputError,
        match=r"train-images-idx3-ubyte holds 4 images but .*train-labels-idx1-ubyte holds 3 labels",
    ):
        load_dataset(str(tmp_path))


def test_npz_label_count_differs_from_image_count(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, x_train=np.zeros((4, 5, 5), np.uint8), y_train=np.array([0, 1, 2]),
             x_test=np.zeros((2, 5, 5), np.uint8), y_test=np.array([2, 0]))  # fmt: skip
    with pytest.raises(InputError, match="x_train holds 4 images but y_train holds 3 labels"):
        load_dataset(str(path))
