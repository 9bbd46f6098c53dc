"""A tiny C-syntax helper: identifiers and array initialisers."""

from __future__ import annotations

import re
from collections.abc import Iterable

C_KEYWORDS = frozenset(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
    ]
)


def c_name(name: str) -> str:
    """A valid C identifier for ``name`` (lower case)."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).lower() or "_"
    if ident[0].isdigit() or ident in C_KEYWORDS:
        ident = "l_" + ident
    return ident


def c_macro(name: str) -> str:
    return c_name(name).upper()


def c_values(values: Iterable[int], per_line: int = 20) -> str:
    items = [str(int(v)) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)
