"""Building the generated project for a Cortex-M and running it under QEMU.

The ELF (``make cortex-m4|cortex-m7``) reads test images over semihosting and writes the
outputs and, per image, the CMSDK TIMER0 ticks of nn_run and of every kernel call. QEMU
runs with ``-icount shift=6``: every instruction advances the timer 1.6 ticks, so counts
are instructions (QEMU has no cycle model), identical run to run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nn2mcu.cgen import c_name
from nn2mcu.codegen.host import record_size, runner_flags
from nn2mcu.codegen.lower import Program
from nn2mcu.errors import InputError
from nn2mcu.schemes import scheme_of

FAULT_EXIT = 0x7E  # startup.c's NN_FAULT_EXIT
FLASH_END = 0x0040_0000  # mps2.ld: 4 MiB of code memory at 0
ICOUNT_SHIFT = 6


@dataclass(frozen=True)
class Target:
    name: str
    machine: str
    cpu: str


TARGETS = {
    "cortex-m4": Target("cortex-m4", "mps2-an386", "Cortex-M4F"),
    "cortex-m7": Target("cortex-m7", "mps2-an500", "Cortex-M7"),
}

TOOLS = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi and libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "arm-none-eabi-nm": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}


class TargetFailure(Exception):
    """The program failed on the emulated target (a fault, a timeout, an error exit)."""


def check_tools() -> None:
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise InputError(f"{tool} is not installed (Debian package {package})")


def ticks_to_instructions(ticks: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """TIMER0 ticks under -icount shift=6 (1.6 per instruction) to instructions."""
    return np.asarray(ticks, dtype=np.int64) * 5 // 8


def build_target(directory: Path, target: Target, cflags: str = "-O2") -> Path:
    check_tools()
    result = subprocess.run(
        ["make", "-C", str(directory), target.name, f"ARM_CFLAGS={cflags}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise InputError(f"building {directory} for {target.name} failed: {tail}")
    return directory / f"nn_{target.name}.elf"


def run_qemu(
    elf: Path, target: Target, arguments: list[str], work: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``elf`` on the emulated board with semihosting argv ``arguments`` (files are
    relative to ``work``); a fault, a timeout or a non-zero exit raises TargetFailure."""
    args = ",".join(f"arg={a}" for a in ["nn", *arguments])
    command = [
        "qemu-system-arm", "-M", target.machine, "-nographic", "-icount", f"shift={ICOUNT_SHIFT}",
        "-semihosting-config", f"enable=on,target=native,{args}", "-kernel", str(elf.resolve()),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command,
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise TargetFailure(
            f"{target.name}: QEMU ({target.machine}) did not finish within {timeout:.0f} s"
        ) from None
    if result.returncode != 0:
        text = (result.stdout + result.stderr).strip()
        fault = re.search(r"nn2mcu: .*", text)
        detail = fault.group(0) if fault else text[-300:]
        raise TargetFailure(
            f"{target.name}: the program failed (exit {result.returncode}): {detail}"
        )
    return result


def fault_layer(program: Program, message: str) -> str:
    """The message with the layer of 'kernel call N' named."""
    match = re.search(r"in kernel call (\d+)", message)
    if match and int(match.group(1)) < len(program.calls):
        call = program.calls[int(match.group(1))]
        return f"{message} (layer '{call.layer.name}', {call.kernel.name})"
    return message


@dataclass(frozen=True)
class TargetRun:
    outputs: npt.NDArray[np.int8]
    ticks: npt.NDArray[np.int64]  # per image: nn_run, then each kernel call


def timeout_for(program: Program, images: int) -> float:
    """Generous: 60 s plus 100 instructions per MAC at 0.2 G instructions/s."""
    graph = program.model.graph
    macs = sum(
        layer.op.macs(graph.input_shapes(layer), graph.shapes[layer.name]) for layer in graph.layers
    )
    return 60.0 + images * max(0.01, 100 * macs / 0.2e9)


def run_images(
    program: Program, elf: Path, target: Target, pixels: npt.NDArray[np.uint8], work: Path
) -> TargetRun:
    size = record_size(program)
    (work / "images.bin").write_bytes(np.ascontiguousarray(pixels).tobytes())
    for name in ("outputs.bin", "profile.bin"):
        (work / name).unlink(missing_ok=True)
    try:
        run_qemu(
            elf,
            target,
            ["images.bin", "outputs.bin", *runner_flags(program, pixels), "-p", "profile.bin"],
            work,
            timeout_for(program, len(pixels)),
        )
    except TargetFailure as failure:
        raise TargetFailure(fault_layer(program, str(failure))) from None
    outputs = np.frombuffer((work / "outputs.bin").read_bytes(), dtype=np.int8)
    ticks = np.frombuffer((work / "profile.bin").read_bytes(), dtype="<u4").astype(np.int64)
    return TargetRun(
        outputs.reshape(len(pixels), size), ticks.reshape(len(pixels), 1 + len(program.calls))
    )


def elf_sizes(elf: Path) -> dict[str, int]:
    result = subprocess.run(
        ["arm-none-eabi-size", str(elf)], capture_output=True, text=True, timeout=60
    )
    text, data, bss = (int(v) for v in result.stdout.strip().splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


@dataclass(frozen=True)
class Symbol:
    address: int
    size: int
    kind: str


def elf_symbols(elf: Path) -> dict[str, Symbol]:
    result = subprocess.run(
        ["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, timeout=60
    )
    symbols = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            address, size, kind, name = parts
            symbols[name] = Symbol(int(address, 16), int(size, 16), kind)
    return symbols


def weight_symbols(program: Program) -> list[str]:
    arrays = scheme_of(program.model).weight_arrays
    names = []
    for call in program.calls:
        if call.layer.name in program.model.weighted:
            names += [f"{c_name(call.layer.name)}_{array}" for array in arrays]
    return names


def memory_check(program: Program, elf: Path) -> dict[str, object]:
    """The ELF's arena and weight arrays against the plan: sizes, and flash placement.
    The mean array is absent when the compiler folded a per-channel mean into the code."""
    symbols = elf_symbols(elf)
    missing = [name for name in ["nn_arena", *weight_symbols(program)] if name not in symbols]
    if missing:
        raise InputError(f"{elf}: symbols {', '.join(missing)} not found")
    constant = [symbols[name] for name in [*weight_symbols(program), "nn_mean"] if name in symbols]
    return {
        "arena_symbol_bytes": symbols["nn_arena"].size,
        "weight_symbol_bytes": sum(symbols[name].size for name in weight_symbols(program)),
        "mean_symbol_bytes": symbols["nn_mean"].size if "nn_mean" in symbols else 0,
        "weights_in_flash": all(symbol.address + symbol.size <= FLASH_END for symbol in constant),
    }
