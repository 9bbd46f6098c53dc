"""Activation shapes: height, width, channels (HWC), batch excluded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Shape:
    """The shape of one activation tensor in HWC order; a vector is 1 x 1 x N."""

    h: int
    w: int
    c: int

    def __post_init__(self) -> None:
        for axis, value in (("h", self.h), ("w", self.w), ("c", self.c)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"shape {axis} must be a positive integer, got {value!r}")

    @classmethod
    def vector(cls, n: int) -> Shape:
        return cls(1, 1, n)

    @property
    def size(self) -> int:
        """Number of elements (= bytes at 8 bit)."""
        return self.h * self.w * self.c

    @property
    def is_vector(self) -> bool:
        return self.h == 1 and self.w == 1

    def as_list(self) -> list[int]:
        return [self.h, self.w, self.c]

    def __str__(self) -> str:
        return f"{self.h}x{self.w}x{self.c}"
