"""Reading and writing Caffe's files: prototxt (text), binaryproto, caffemodel, solverstate.

Every failure becomes an InputError that names the file (and, for text files, the
line and column).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from nn2mcu.errors import InputError
from nn2mcu.filemode import make_public
from nn2mcu.frontends.caffe import caffe_pb2

MessageT = TypeVar("MessageT", bound=Message)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None


# Files from 128 KiB on are parsed by protoc's C++ text-format parser (the one Caffe
# itself uses), run as `python -m grpc_tools.protoc --encode`: about 8 times faster than
# protobuf's Python parser, which stays for smaller files (no process to start) and for
# the error message of any file protoc refuses.
PROTOC_FROM_BYTES = 128 << 10
PROTO = Path(__file__).with_name("caffe.proto")


def _parse_with_protoc(text: str, message: MessageT) -> bool:
    """Parse ``text`` into ``message`` with protoc; False when protoc refuses it or is not
    installed (the caller then parses with Python, which reports the error)."""
    import subprocess
    import sys

    root = PROTO.parents[3]  # the directory holding the nn2mcu package
    encode = f"--encode={message.DESCRIPTOR.full_name}"
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{root}", encode,
               str(PROTO.relative_to(root))]  # fmt: skip
    try:
        result = subprocess.run(command, input=text.encode(), capture_output=True, check=False)
    except OSError:
        return False
    if result.returncode != 0:
        return False
    try:
        message.ParseFromString(result.stdout)
    except DecodeError:
        return False
    return True


def _parse_text(path: Path, text: str, message: MessageT) -> MessageT:
    if len(text) >= PROTOC_FROM_BYTES and _parse_with_protoc(text, message):
        return message
    message.Clear()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        line, column = error.GetLine(), error.GetColumn()
        detail = str(error)
        # The library prefixes "line:column : " itself; keep only the reason.
        prefix = f"{line}:{column} : "
        if detail.startswith(prefix):
            detail = detail[len(prefix) :]
        detail = detail.replace("nn2mcu_caffe.", "")
        raise InputError(f"{path}:{line}:{column}: {detail}") from None
    return message


def _decode_text(path: Path) -> str:
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not a text file (byte {error.start} is not UTF-8); "
            "a binary .caffemodel is given with --weights"
        ) from None


def read_net_prototxt(path: Path) -> caffe_pb2.NetParameter:
    """Parse a network definition in protobuf text format."""
    return _parse_text(path, _decode_text(path), caffe_pb2.NetParameter())


def read_solver_prototxt(path: Path) -> caffe_pb2.SolverParameter:
    """Parse a solver definition in protobuf text format; a network definition given
    instead is named as one."""
    text = _decode_text(path)
    try:
        return _parse_text(path, text, caffe_pb2.SolverParameter())
    except InputError as solver_error:
        try:
            _parse_text(path, text, caffe_pb2.NetParameter())
        except InputError:
            raise solver_error from None
        raise InputError(
            f"{path}: a net, not a solver (train takes solver prototxts; to skip training "
            "give the net with --weights to quantize or run)"
        ) from None


def read_net_or_solver(
    path: Path,
) -> caffe_pb2.NetParameter | caffe_pb2.SolverParameter:
    """Parse a text file that holds either a network or a solver.

    When it parses as neither, the error reported is the one that got further
    into the file, which is the kind of file it most likely is.
    """
    text = _decode_text(path)
    try:
        return _parse_text(path, text, caffe_pb2.NetParameter())
    except InputError as net_error:
        try:
            return _parse_text(path, text, caffe_pb2.SolverParameter())
        except InputError as solver_error:
            raise max(net_error, solver_error, key=_error_position) from None


def _error_position(error: InputError) -> tuple[int, int]:
    parts = str(error).split(":")
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return (0, 0)


def _parse_binary(path: Path, message: MessageT, what: str) -> MessageT:
    data = read_bytes(path)
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise InputError(f"{path}: not a valid binary {what} ({error})") from None
    return message


def read_net_binary(path: Path) -> caffe_pb2.NetParameter:
    """Parse a binary NetParameter (a .caffemodel)."""
    return _parse_binary(path, caffe_pb2.NetParameter(), "Caffe model (NetParameter)")


def read_blob_binary(path: Path) -> caffe_pb2.BlobProto:
    """Parse a binary BlobProto (a mean.binaryproto)."""
    return _parse_binary(path, caffe_pb2.BlobProto(), "BlobProto")


def read_solverstate_binary(path: Path) -> caffe_pb2.SolverState:
    return _parse_binary(path, caffe_pb2.SolverState(), "SolverState")


def blob_shape(blob: caffe_pb2.BlobProto) -> tuple[int, ...]:
    """The blob's dimensions: its ``shape`` or, in older files, num/channels/height/width."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width))


def blob_array(blob: caffe_pb2.BlobProto, where: str) -> npt.NDArray[np.float32]:
    """The blob's data as a float32 array of its own shape."""
    shape = blob_shape(blob)
    values = blob.double_data if len(blob.double_data) else blob.data
    count = int(np.prod(shape, dtype=np.int64))
    if len(values) != count:
        raise InputError(f"{where}: blob of shape {list(shape)} holds {len(values)} values")
    return np.asarray(values, dtype=np.float32).reshape(shape)


def array_blob(array: npt.ArrayLike) -> caffe_pb2.BlobProto:
    """A BlobProto with ``shape`` and float ``data`` (Caffe's current form)."""
    values = np.asarray(array, dtype=np.float32)
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend(int(d) for d in values.shape)
    blob.data.extend(values.ravel().tolist())
    return blob


def read_mean_file(path: Path) -> npt.NDArray[np.float32]:
    """A mean.binaryproto as a C x H x W float32 array."""
    blob = read_blob_binary(path)
    array = blob_array(blob, str(path))
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise InputError(f"{path}: mean blob has shape {list(array.shape)}, expected 1xCxHxW")
    return array


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    make_public(Path(temporary))  # as a plainly created file would be
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_binary(path: Path, message: Message) -> None:
    with atomic_output(path) as temporary:
        temporary.write_bytes(message.SerializeToString())
