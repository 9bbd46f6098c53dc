"""Quantized model files of either scheme: model.json with its .npz sidecar.

model.json holds the schema version, the generator, the scheme, the graph, the scheme's
own fields (``Scheme.write_fields``), the calibration record, the float weights' path and
hash (both absent for a model someone else quantized), the sidecar's name and sha256, and
the report. Both files are written atomically (temporary files renamed into place, the
sidecar first), never with pickle. Reading checks the sidecar's hash, then the scheme
checks the model (``Scheme.validate``) before any work. Schema version 1 files (two-value
``pad``) are read too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nn2mcu import __version__
from nn2mcu.errors import InputError
from nn2mcu.filemode import make_public
from nn2mcu.ops.serialize import SCHEMA_VERSION, graph_from_dict, graph_to_dict

if TYPE_CHECKING:
    from nn2mcu.quant.calibrate import Calibration

READABLE_VERSIONS = (1, SCHEMA_VERSION)


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


def write_quantized(
    model: Any,
    path: Path,
    *,
    calibration: dict[str, Any] | None,
    weights_file: Path | None,
    report: dict[str, Any],
    class_names: tuple[str, ...] | None = None,
) -> None:
    """model.json and its sidecar for a model of either scheme; ``calibration`` and
    ``weights_file`` are None for a model quantized elsewhere (no float origin);
    ``class_names`` are the data set's (generate writes them as nn_class_names)."""
    from nn2mcu.schemes import scheme_of

    scheme = scheme_of(model)
    arrays, fields = scheme.write_fields(model)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    sidecar = buffer.getvalue()
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"nn2mcu {__version__}",
        "scheme": scheme.name,
        "graph": graph_to_dict(model.graph),
        **fields,
    }
    if calibration is not None:
        document["calibration"] = calibration
    if class_names is not None:
        document["class_names"] = list(class_names)
    if weights_file is not None:
        document["float_weights"] = {
            "path": str(weights_file.resolve()),
            "sha256": sha256_file(weights_file),
        }
    document["arrays"] = {
        "path": sidecar_path(path).name,
        "sha256": hashlib.sha256(sidecar).hexdigest(),
    }
    document["report"] = report
    write_atomically(sidecar_path(path), sidecar)
    write_atomically(path, json.dumps(document, indent=2).encode())


def read_document(path: Path, scheme: str | None = None) -> tuple[dict[str, Any], Path]:
    """model.json's document and its sidecar's path, checked against the recorded hash."""
    from nn2mcu.schemes import SCHEMES

    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    found = document.get("scheme") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("schema_version") not in READABLE_VERSIONS:
        raise InputError(
            f"{path}: not an nn2mcu model (schema_version "
            f"{' or '.join(map(str, READABLE_VERSIONS))})"
        )
    if not isinstance(found, str) or found not in SCHEMES:
        raise InputError(f"{path}: scheme {found!r} is not one of {', '.join(sorted(SCHEMES))}")
    if scheme is not None and found != scheme:
        raise InputError(f"{path}: a {found} model, not {scheme}")
    arrays = document.get("arrays")
    if not isinstance(arrays, dict) or not isinstance(arrays.get("path"), str):
        raise InputError(f"{path}: 'arrays' does not name the .npz file")
    sidecar = path.parent / arrays["path"]
    if not sidecar.is_file():
        raise InputError(f"{path}: its arrays file {sidecar} is missing")
    if sha256_file(sidecar) != arrays.get("sha256"):
        raise InputError(f"{sidecar}: its sha256 differs from the one in {path}")
    return document, sidecar


def read_quantized(path: Path) -> Any:
    """A model.json of either scheme, as its scheme's model (the graph without float
    weights), checked by the scheme before it is returned."""
    from nn2mcu.schemes import SCHEMES

    document, sidecar = read_document(path)
    scheme = SCHEMES[document["scheme"]]
    try:
        graph = graph_from_dict(document["graph"], document["schema_version"])
        with np.load(sidecar, allow_pickle=False) as arrays:
            model = scheme.read_fields(document, arrays, graph)
    except KeyError as error:
        raise InputError(f"{path}: {error} is missing") from None
    except (TypeError, ValueError, AttributeError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: {error}") from None
    scheme.validate(model, str(path))
    return model


def import_tflite(path: Path) -> Any:
    """An int8 TFLite model as an s8 model, its parameters kept as TFLite quantized them
    and checked by the s8 scheme."""
    from nn2mcu.frontends.tflite import load_tflite
    from nn2mcu.schemes.s8 import S8

    parts = load_tflite(path)
    return S8.from_quantized(
        parts.graph,
        tensors=parts.tensors,
        layers=parts.layers,
        mean=np.zeros(0, np.int64),
        input_multiplier=0,
        input_shift=0,
        pool_activation=parts.pool_activation,
        imported=parts.imported,
    )


def recorded_class_names(path: Path) -> tuple[str, ...] | None:
    """The data set's class names model.json records, if any (none for a .tflite)."""
    from nn2mcu.frontends.tflite import is_tflite

    if is_tflite(path):
        return None
    document, _ = read_document(path)
    names = document.get("class_names")
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InputError(f"{path}: 'class_names' must be a list of strings")
    return tuple(names)


def read_model(path: Path) -> Any:
    """A quantized model: a model.json of either scheme, or an int8 .tflite imported as it
    is."""
    from nn2mcu.frontends.tflite import is_tflite

    if is_tflite(path):
        return import_tflite(path)
    return read_quantized(path)


def with_pixel_map(model: Any, mean: float | None, scale: float | None) -> Any:
    """An imported model that also takes uint8 pixels: x = (p - M) * S, q = clamp(round-
    half-away(x / scale) + zero point). M and S default to the model's recorded mapping,
    else 0 and 1."""
    import dataclasses
    import math

    imported = model.imported
    if imported is None:
        raise InputError("--mean and --scale map pixels for models imported from TFLite")
    recorded = imported.pixel_map or (0.0, 1.0)
    chosen = (
        recorded[0] if mean is None else float(mean),
        recorded[1] if scale is None else float(scale),
    )
    if not all(math.isfinite(v) for v in chosen) or chosen[1] == 0:
        raise InputError(f"--mean {chosen[0]} --scale {chosen[1]}: give finite values, S != 0")
    return dataclasses.replace(model, imported=dataclasses.replace(imported, pixel_map=chosen))
