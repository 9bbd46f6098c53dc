"""Microcontroller boards a report can budget flash and RAM against."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Board:
    name: str
    mcu: str
    core: str
    flash: int  # bytes
    ram: int  # bytes
    clock_hz: int  # the core's top clock (the report's time estimate)


BOARDS = {
    board.name: board
    for board in (
        Board(
            "nucleo-f411re", "STM32F411RE", "Cortex-M4F, 100 MHz", 512 * KIB, 128 * KIB, 100_000_000
        ),
        Board(
            "nucleo-f446re", "STM32F446RE", "Cortex-M4F, 180 MHz", 512 * KIB, 128 * KIB, 180_000_000
        ),
        Board(
            "nucleo-l476rg", "STM32L476RG", "Cortex-M4F, 80 MHz", 1024 * KIB, 128 * KIB, 80_000_000
        ),
        Board("stm32l476", "STM32L476", "Cortex-M4F, 80 MHz", 1024 * KIB, 128 * KIB, 80_000_000),
        Board(
            "nucleo-f746zg", "STM32F746ZG", "Cortex-M7, 216 MHz", 1024 * KIB, 320 * KIB, 216_000_000
        ),
        Board(
            "nucleo-h743zi",
            "STM32H743ZI",
            "Cortex-M7, 480 MHz",
            2048 * KIB,
            1024 * KIB,
            480_000_000,
        ),
        Board("nrf52840-dk", "nRF52840", "Cortex-M4F, 64 MHz", 1024 * KIB, 256 * KIB, 64_000_000),
        Board(
            "mps2-an386",
            "MPS2 AN386 (QEMU)",
            "Cortex-M4F, 25 MHz",
            4096 * KIB,
            4096 * KIB,
            25_000_000,
        ),
    )
}
