"""Quantized model files of either scheme: model.json with its .npz sidecar.

The q7 layout is in ``q7/modelfile.py``, the s8 layout in ``s8/modelfile.py``; both write
atomically (temporary files renamed into place, the sidecar first), record the sidecar's
sha256 and never use pickle. ``read_quantized`` reads either, by its "scheme".
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nn2mcu import __version__
from nn2mcu.errors import InputError
from nn2mcu.filemode import make_public

if TYPE_CHECKING:
    from nn2mcu.q7.calibrate import Calibration
    from nn2mcu.q7.model import Q7Model
    from nn2mcu.s8.model import S8Model

SCHEMA_VERSION = 1
SCHEMES = ("q7", "s8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        make_public(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".npz")


def calibration_record(calibration: Calibration, data: str) -> dict[str, Any]:
    """What model.json records of the calibration split."""
    return {
        "images": len(calibration.labels),
        "seed": 0,
        "sha256": calibration.sha256,
        "data": data,
    }


def write_files(
    path: Path,
    scheme: str,
    arrays: dict[str, np.ndarray],
    fields: dict[str, Any],
    *,
    calibration: dict[str, Any],
    weights_file: Path,
    report: dict[str, Any],
) -> None:
    """The sidecar of ``arrays``, then model.json: the scheme's ``fields`` between the
    common header (schema, generator, scheme) and the common tail (calibration, float
    weights, the sidecar's hash, report)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    sidecar = buffer.getvalue()
    document = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"nn2mcu {__version__}",
        "scheme": scheme,
        **fields,
        "calibration": calibration,
        "float_weights": {"path": str(weights_file.resolve()), "sha256": sha256_file(weights_file)},
        "arrays": {"path": sidecar_path(path).name, "sha256": hashlib.sha256(sidecar).hexdigest()},
        "report": report,
    }
    write_atomically(sidecar_path(path), sidecar)
    write_atomically(path, json.dumps(document, indent=2).encode())


def write_quantized(
    model: Q7Model | S8Model,
    path: Path,
    *,
    calibration: dict[str, Any],
    weights_file: Path,
    report: dict[str, Any],
) -> None:
    """model.json and its sidecar for a model of either scheme."""
    from nn2mcu.q7.modelfile import write_model
    from nn2mcu.s8.model import S8Model
    from nn2mcu.s8.modelfile import write_s8_model

    if isinstance(model, S8Model):
        write_s8_model(model, path, calibration=calibration, weights_file=weights_file,
                       report=report)  # fmt: skip
    else:
        write_model(model, path, calibration=calibration, weights_file=weights_file, report=report)


def read_document(path: Path, scheme: str | None = None) -> tuple[dict[str, Any], Path]:
    """model.json's document and its sidecar's path, checked against the recorded hash."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    found = document.get("scheme") if isinstance(document, dict) else None
    if document.get("schema_version") != SCHEMA_VERSION or found not in SCHEMES:
        raise InputError(f"{path}: not an nn2mcu model (schema_version {SCHEMA_VERSION})")
    if scheme is not None and found != scheme:
        raise InputError(f"{path}: a {found} model, not {scheme}")
    sidecar = path.parent / document["arrays"]["path"]
    if not sidecar.is_file():
        raise InputError(f"{path}: its arrays file {sidecar} is missing")
    if sha256_file(sidecar) != document["arrays"]["sha256"]:
        raise InputError(f"{sidecar}: its sha256 differs from the one in {path}")
    return document, sidecar


def read_quantized(path: Path) -> Q7Model | S8Model:
    """A model.json of either scheme."""
    document, _ = read_document(path)
    if document["scheme"] == "s8":
        from nn2mcu.s8.modelfile import read_s8_model

        return read_s8_model(path)
    from nn2mcu.q7.modelfile import read_model

    return read_model(path)
