"""The schemes: one table of what is per scheme but not per operator (schemes/base.py).

``SCHEMES`` maps a scheme's name to its object; ``scheme_of`` finds a model's.
"""

from __future__ import annotations

from typing import Any

from nn2mcu.schemes.base import CmsisBuild, Quantized, Scheme
from nn2mcu.schemes.q7 import Q7
from nn2mcu.schemes.s8 import S8

SCHEMES: dict[str, Scheme] = {Q7.name: Q7, S8.name: S8}


def scheme_of(model: Any) -> Scheme:
    return SCHEMES[model.scheme]


__all__ = ["SCHEMES", "CmsisBuild", "Quantized", "Scheme", "scheme_of"]
