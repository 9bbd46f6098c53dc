"""The registries: operator kind -> attribute class, and (operator kind, scheme) -> binding.

Operator modules register their classes with :func:`register` and their bindings with
:func:`bind`; ``nn2mcu.ops`` imports every operator module explicitly, so a broken module
fails loudly at import.
"""

from __future__ import annotations

from typing import TypeVar

from nn2mcu.errors import InputError
from nn2mcu.ir.binding import Binding, Site
from nn2mcu.ir.op import Op

OPS: dict[str, type[Op]] = {}
BINDINGS: dict[tuple[str, str], Binding] = {}
# (operator kind, scheme) -> why the scheme cannot compute the operator
REFUSALS: dict[tuple[str, str], str] = {}
SCHEME_NAMES = ("q7", "s8")

OpT = TypeVar("OpT", bound=type[Op])
BindingT = TypeVar("BindingT", bound=type[Binding])


def register(cls: OpT) -> OpT:
    """Class decorator: add an operator class under its ``kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    if cls.kind in OPS:
        raise TypeError(f"operator kind '{cls.kind}' registered twice")
    OPS[cls.kind] = cls
    return cls


def bind(cls: BindingT) -> BindingT:
    """Class decorator: add one instance of a binding under (its operator's kind, scheme)."""
    if cls.scheme not in SCHEME_NAMES:
        raise TypeError(f"{cls.__name__}: unknown scheme {cls.scheme!r}")
    key = (cls.op.kind, cls.scheme)
    if key in BINDINGS:
        raise TypeError(f"binding {key} registered twice")
    BINDINGS[key] = cls()
    return cls


def refuse(op: type[Op], scheme: str, reason: str) -> None:
    """Record why ``scheme`` has no binding for ``op`` (the refusal names it)."""
    REFUSALS[(op.kind, scheme)] = reason


def lookup(kind: str) -> type[Op]:
    return OPS[kind]


def supported_schemes(op: Op) -> list[str]:
    return [scheme for scheme in SCHEME_NAMES if (op.kind, scheme) in BINDINGS]


def binding(site: Site, scheme: str) -> Binding:
    """The binding of the site's operator in ``scheme``, or a refusal that names the layer
    and says which schemes the operator has."""
    found = BINDINGS.get((site.op.kind, scheme))
    if found is not None:
        return found
    reason = REFUSALS.get((site.op.kind, scheme))
    if reason is None:
        others = supported_schemes(site.op)
        hint = f"; it has a binding in: {', '.join(others)}" if others else ""
        reason = f"the {scheme} scheme has no kernel for this operator{hint}"
    raise InputError(f"layer '{site.name}' ({site.op.type_name}): {reason}")
