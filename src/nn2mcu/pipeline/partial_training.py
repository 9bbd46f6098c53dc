"""Training in progress in ``nn2mcu run``: its snapshots are written to
DIR/stages/train-snapshots/ rather than inside the train stage's temporary directory, and
Ctrl-C records there which solver was running and its last snapshot. The next run with the
same train key resumes from that snapshot, so it ends with the weights an uninterrupted
run gives; a run with another key starts afresh. The folder goes once the stage is whole."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nn2mcu.modelfile import write_atomically

if TYPE_CHECKING:
    from nn2mcu.train.trainer import TrainingInterrupted

PARTIAL_TRAINING = "train-snapshots"
RECORD = "interrupted.json"


class PartialTraining:
    def __init__(self, directory: Path, key: str) -> None:
        self.directory, self.key = directory, key

    def resume_point(self, log: Callable[[str], None]) -> tuple[int, Path | None]:
        """(index of the solver to start with, snapshot to resume it from or None)."""
        record = self.directory / RECORD
        try:
            stored = json.loads(record.read_text())
            solver, state = int(stored["solver"]), Path(stored["solverstate"])
            usable = stored["key"] == self.key and state.is_file()
        except (OSError, ValueError, KeyError, TypeError):
            usable = False
        if not usable:
            if self.directory.exists():
                log(f"{self.directory}: from another configuration or incomplete; training afresh")
            self.remove()
            return 0, None
        log(f"continuing the interrupted training from {state} (solver {solver + 1})")
        return solver, state

    def record(self, interrupted: TrainingInterrupted) -> None:
        """Write where training stopped (the snapshot is already in the folder)."""
        if len(interrupted.snapshot) < 2:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {
            "key": self.key,
            "solver": interrupted.solver,
            "iteration": interrupted.iteration,
            "solverstate": str(interrupted.snapshot[1].resolve()),
        }
        write_atomically(self.directory / RECORD, (json.dumps(record, indent=2) + "\n").encode())

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
