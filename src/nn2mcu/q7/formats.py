"""Qm.n formats of the legacy q7 scheme and the shifts the kernels take.

A value v in a format with ``frac`` fractional bits is stored as round(v * 2**frac);
``frac`` may be negative or exceed 7 (Q-2.9, Q8.-1). A layer's accumulator carries
in_frac + w_frac fractional bits, so (ARM's "Compute the layer shifts"):

    bias_shift = (in_frac + w_frac) - bias_frac
    out_shift  = (in_frac + w_frac) - out_frac
"""

from __future__ import annotations

from dataclasses import dataclass


def q_format(frac: int) -> str:
    """Qm.n text of a format with ``frac`` fractional bits (m + n = 7)."""
    return f"Q{7 - frac}.{frac}"


class FormatError(ValueError):
    """Formats that the q7 kernels cannot run (a shift out of range)."""


@dataclass(frozen=True)
class Shifts:
    bias_shift: int
    out_shift: int


def layer_shifts(in_frac: int, w_frac: int, bias_frac: int, out_frac: int) -> Shifts:
    """The kernel shifts for these formats; both must lie in 0..31."""
    accumulator = in_frac + w_frac
    shifts = Shifts(accumulator - bias_frac, accumulator - out_frac)
    if not 0 <= shifts.bias_shift <= 31:
        raise FormatError(
            f"bias_shift {shifts.bias_shift} = {in_frac} + {w_frac} - {bias_frac} is outside 0..31"
        )
    if not 0 <= shifts.out_shift <= 31:
        raise FormatError(
            f"out_shift {shifts.out_shift} = {in_frac} + {w_frac} - {out_frac} is outside 0..31"
        )
    return shifts
