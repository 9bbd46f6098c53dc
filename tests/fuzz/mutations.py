"""Malformed variants of valid inputs, drawn from a seeded generator: bytes (truncated,
overwritten, inserted, deleted), protobuf text (tokens and lines changed, extreme numbers,
broken strings, stray bytes), JSON documents (a value of the wrong type or out of range,
a key removed) and npz arrays (wrong dtype, shape, values or names)."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

NUMBERS = ["-1", "0", "-0", "1e30", "-1e30", "nan", "inf", "-inf", "99999999999", "4294967296",
           "-2147483649", "1.5", "0x7fffffff", "3e-45", "18446744073709551616"]  # fmt: skip
VALUES: list[Any] = [None, True, False, -1, 0, 1, 2**31, -(2**31) - 1, 2**63, 1e308, -1e308,
                     float("nan"), float("inf"), 0.5, "x", "", [], {}, [1, 2, 3], [[0]],
                     {"a": 1}]  # fmt: skip
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\S')


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    size = len(data)
    at = int(rng.integers(0, max(size, 1)))
    kind = int(rng.integers(6))
    if kind == 0:
        return data[:at]
    if kind == 1:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(0, size))] = int(rng.integers(0, 256))
        return bytes(out)
    if kind == 2:
        return data[:at] + rng.bytes(int(rng.integers(1, 64))) + data[at:]
    if kind == 3:
        return data[:at] + data[at + int(rng.integers(1, 256)) :]
    if kind == 4:
        span = int(rng.integers(4, 64))
        return data[:at] + b"\xff" * span + data[at + span :]
    return rng.bytes(int(rng.integers(0, 512)))


def mutate_text(text: str, rng: np.random.Generator) -> bytes:
    tokens = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
    kind = int(rng.integers(10))
    start, end = tokens[int(rng.integers(len(tokens)))]
    token = text[start:end]
    lines = text.split("\n")
    line = int(rng.integers(len(lines)))
    if kind == 0:  # a number made extreme or odd
        numbers = [(s, e) for s, e in tokens if re.fullmatch(r"-?\d.*", text[s:e])]
        start, end = numbers[int(rng.integers(len(numbers)))] if numbers else (start, end)
        return (text[:start] + str(rng.choice(NUMBERS)) + text[end:]).encode()
    if kind == 1:  # a token removed
        return (text[:start] + text[end:]).encode()
    if kind == 2:  # a line doubled
        return "\n".join(lines[: line + 1] + lines[line:]).encode()
    if kind == 3:  # a line removed
        return "\n".join(lines[:line] + lines[line + 1 :]).encode()
    if kind == 4:  # a token swapped for another one of the file's tokens
        s2, e2 = tokens[int(rng.integers(len(tokens)))]
        return (text[:start] + text[s2:e2] + text[end:]).encode()
    if kind == 5:  # a string broken or made odd
        odd = str(rng.choice(['"', '""', '"\\x00"', '"' + "a" * 5000 + '"', '"\\q"', "'x'"]))
        return (text[:start] + odd + text[end:]).encode()
    if kind == 6:  # stray bytes
        return text[:start].encode() + rng.bytes(int(rng.integers(1, 8))) + text[start:].encode()
    if kind == 7:  # an identifier of the file's schema misspelt
        return (text[:start] + token[::-1] + "_" + text[end:]).encode()
    if kind == 8:
        return text[: int(rng.integers(0, len(text)))].encode()
    return mutate_bytes(text.encode(), rng)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _leaves(value, (*path, index))
    return found


def mutate_document(document: Any, rng: np.random.Generator) -> Any:
    """A copy with one value replaced by an odd one, or one key removed."""
    changed = copy.deepcopy(document)
    paths = _leaves(changed)
    path = paths[int(rng.integers(len(paths)))]
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.25:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(VALUES[int(rng.integers(len(VALUES)))])
    return changed


def mutate_arrays(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A copy with one array of another dtype, shape or values, or renamed or removed."""
    changed = dict(arrays)
    name = sorted(changed)[int(rng.integers(len(changed)))]
    array = changed[name]
    kind = int(rng.integers(8))
    if kind == 0:
        changed[name] = array.astype(
            str(rng.choice(["float32", "float64", "int64", "uint8", "bool", "int16"]))
        )
    elif kind == 1:
        changed[name] = array.ravel()[: max(array.size // 2, 0)]
    elif kind == 2:
        changed[name] = array.reshape(1, *array.shape)
    elif kind == 3:
        info = np.iinfo(array.dtype) if array.dtype.kind in "iu" else None
        value = (info.max if rng.random() < 0.5 else info.min) if info else np.float32(1e30)
        changed[name] = np.full_like(array, value)
    elif kind == 4:
        del changed[name]
    elif kind == 5:
        changed[name + "_"] = changed.pop(name)
    elif kind == 6:
        changed[name] = np.zeros((0,), array.dtype)
    else:
        changed[name] = array.astype(np.float64) + 0.5
    return changed
