"""A minimal protobuf wire-format writer for test fixtures.

It knows nothing of nn2mcu's schema: messages are assembled from upstream Caffe's
field numbers by hand, so files built with it test the reader independently of
the project's writer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def int_field(field: int, value: int) -> bytes:
    return tag(field, VARINT) + varint(value)


def message(field: int, payload: bytes) -> bytes:
    return tag(field, LENGTH_DELIMITED) + varint(len(payload)) + payload


def string(field: int, text: str) -> bytes:
    return message(field, text.encode())


def packed_floats(field: int, values: Iterable[float]) -> bytes:
    values = list(values)
    return message(field, struct.pack(f"<{len(values)}f", *values))


def packed_varints(field: int, values: Iterable[int]) -> bytes:
    return message(field, b"".join(varint(v) for v in values))
