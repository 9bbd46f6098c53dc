"""Downloading the public data sets, only when the user asks (``nn2mcu download``).

Files come from the data sets' official addresses, are checked against their
published MD5 sums and land in the cache directory (``$NN2MCU_CACHE`` or
``~/.cache/nn2mcu``), written atomically: a failed download leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.filemode import make_public


@dataclass(frozen=True)
class Remote:
    url: str
    md5: str
    extract: bool = False  # a .tar.gz whose members go into the data set's directory


_MNIST = "http://yann.lecun.com/exdb/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

SOURCES: dict[str, tuple[Remote, ...]] = {
    "cifar10": (
        Remote(
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            "c32a1d4ab5d03f1284b67883e8d87530",
            extract=True,
        ),
    ),
    "mnist": (
        Remote(_MNIST + "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote(_MNIST + "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        Remote(_MNIST + "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        Remote(_MNIST + "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    "fashion-mnist": (
        Remote(_FASHION + "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        Remote(_FASHION + "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        Remote(_FASHION + "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        Remote(_FASHION + "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
}


def cache_dir() -> Path:
    configured = os.environ.get("NN2MCU_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "nn2mcu"


def dataset_dir(name: str) -> Path:
    return cache_dir() / name


def _fetch(remote: Remote, target: Path, timeout: float) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with (
            urllib.request.urlopen(remote.url, timeout=timeout) as response,
            target.open("wb") as out,
        ):
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        raise InputError(f"cannot download {remote.url}: {error}") from None
    if digest.hexdigest() != remote.md5:
        raise InputError(
            f"{remote.url}: MD5 {digest.hexdigest()} differs from the published {remote.md5}"
        )


def download(name: str, *, timeout: float = 60.0) -> Path:
    """Download data set ``name`` into the cache; returns its directory."""
    if name not in SOURCES:
        raise InputError(f"nothing to download for '{name}'; downloadable: {', '.join(SOURCES)}")
    final = dataset_dir(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
    try:
        for remote in SOURCES[name]:
            file_name = remote.url.rsplit("/", 1)[-1]
            fetched = staging / file_name
            _fetch(remote, fetched, timeout)
            if remote.extract:
                with tarfile.open(fetched) as archive:
                    for member in archive.getmembers():
                        if member.isfile():
                            member.name = Path(member.name).name  # flatten the archive's folder
                            archive.extract(member, staging, filter="data")
                fetched.unlink()
        make_public(staging)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final
