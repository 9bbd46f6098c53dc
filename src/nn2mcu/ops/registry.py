"""The operator registry: operator kind -> attribute class.

Operator modules register themselves with :func:`register`; ``nn2mcu.ops`` imports
every operator module explicitly, so a broken module fails loudly at import.
"""

from __future__ import annotations

from typing import TypeVar

from nn2mcu.ir.op import Op

OPS: dict[str, type[Op]] = {}

OpT = TypeVar("OpT", bound=type[Op])


def register(cls: OpT) -> OpT:
    """Class decorator: add an operator class under its ``kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    if cls.kind in OPS:
        raise TypeError(f"operator kind '{cls.kind}' registered twice")
    OPS[cls.kind] = cls
    return cls


def lookup(kind: str) -> type[Op]:
    return OPS[kind]
