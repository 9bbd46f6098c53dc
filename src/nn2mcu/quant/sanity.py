"""Warnings for values that make no sense in an 8-bit network, for the quantizers' reports:
parameters or activation ranges far beyond what any 8-bit format holds with precision
left (2^15: a trained small CNN's weights and activations stay orders of magnitude
below), and outputs that saturate often. Saturation at -128 in a layer whose readers all
make negative values 0 (Op.zeroes_negatives) is noted as harmless: they are 0 anyway."""

from __future__ import annotations

import numpy as np

from nn2mcu.ir import Graph

LIMIT = 2.0**15  # magnitude beyond which a float net's values make no sense at 8 bits
SATURATION = 0.03  # fraction of outputs at the int8 limits that earns a warning


def negatives_zeroed_by(graph: Graph, name: str) -> str | None:
    """The type of the operator reading ``name``'s output when every reader makes negative
    values 0 (the readers' types joined when they differ), else None."""
    readers = graph.consumers(name)
    if not readers or not all(reader.op.zeroes_negatives for reader in readers):
        return None
    return "/".join(sorted({reader.op.type_name for reader in readers}))


def weight_warnings(graph: Graph) -> list[str]:
    """A warning per parameter array whose values are beyond any 8-bit format's reach."""
    found = []
    for layer in graph.layers:
        for key, value in layer.weights.items():
            largest = float(np.max(np.abs(value))) if value.size else 0.0
            if largest > LIMIT:
                found.append(
                    f"layer '{layer.name}': {key} values up to {largest:.3g} are beyond any "
                    "8-bit format's reach (is the float model broken?)"
                )
    return found


def range_warning(name: str, largest: float) -> str | None:
    if largest > LIMIT:
        return (
            f"layer '{name}': outputs up to {largest:.3g} are beyond any 8-bit format's reach "
            "(is the float model broken?)"
        )
    return None


def saturation_warning(name: str, low: float, high: float, zeroed_by: str | None) -> str | None:
    """``low`` and ``high``: the fractions of outputs at -128 and at 127; ``zeroed_by``: see
    negatives_zeroed_by."""
    if low + high <= SATURATION:
        return None
    message = f"layer '{name}': {100 * (low + high):.1f} % of its outputs saturate"
    if zeroed_by is not None and high <= SATURATION:
        return (
            f"{message} ({100 * low:.1f} % at -128, before a {zeroed_by} that makes them 0 "
            f"anyway: harmless; {100 * high:.1f} % at 127)"
        )
    return f"{message} ({100 * low:.1f} % at -128, {100 * high:.1f} % at 127)"
