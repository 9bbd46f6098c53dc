"""``generate --kernel-prefix PFX``: the portable kernels under names of their own.

Vendor packs (STM32Cube, MCUXpresso, Keil's CMSIS pack) often ship a CMSIS-NN 5.x or 6.x
already. The portable kernels carry CMSIS-NN's names (``arm_convolve_s8``,
``cmsis_nn_dims``, ``arm_nnfunctions.h``), so the two would clash at link time, in an
include path, and in an IDE's object folder. With a prefix every name the portable kernels
define (functions, types, enum constants, include guards) and every kernel file is renamed
``PFX`` + name, in the kernels and in the generated files that use them, and the project
links beside the vendor's library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from nn2mcu.errors import InputError

# The names the portable kernels define: CMSIS-NN's (arm_*, cmsis_nn_*, ARM_*, q7_t ...),
# nn2mcu's own (nn2mcu_fully_connected_s8, its argument type, the static helpers) and
# nn2mcu's include guards. Names the compiler defines (__ARM_FEATURE_DSP) have no word
# boundary before "ARM_"; <arm_acle.h> is the compiler's header and keeps its name.
_DEFINED = re.compile(
    r"\b(?:arm_\w+|cmsis_nn_\w+|ARM_\w+|q(?:7|15|31|63)_t|nn2mcu_\w+|NN2MCU_\w+_H)\b"
)
_COMPILERS = frozenset({"arm_acle"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can begin a C identifier, else exit 2 naming it."""
    if not _IDENTIFIER.fullmatch(prefix):
        raise InputError(
            f"--kernel-prefix {prefix!r}: must be a C identifier's start (letters, digits, _; "
            "not a digit first), for example 'nn2mcu_'"
        )
    return prefix


class KernelPrefix:
    """Renames the portable kernels' names and files by one prefix."""

    def __init__(self, prefix: str, kernel_files: Iterable[Path]) -> None:
        self.prefix = check_prefix(prefix)
        self.sources = {path.name: path.read_text() for path in kernel_files}
        names: set[str] = set()
        for text in self.sources.values():
            names.update(_DEFINED.findall(text))
        self.names = frozenset(names - _COMPILERS)
        self._files = set(self.sources)

    def kernels(self) -> dict[str, str]:
        """The renamed kernel files: their new names and texts."""
        return {self.prefix + name: self.text(text) for name, text in self.sources.items()}

    def text(self, source: str) -> str:
        """``source`` with each kernel file it includes and each kernel name renamed."""
        for name in self._files:
            source = source.replace(f'#include "{name}"', f'#include "{self.prefix}{name}"')
        return _DEFINED.sub(
            lambda match: (
                self.prefix + match.group(0) if match.group(0) in self.names else match.group(0)
            ),
            source,
        )
