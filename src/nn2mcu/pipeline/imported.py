"""``nn2mcu run MODEL.tflite``: import (the model's own parameters), generate, build and
verify on the host and the target against the simulator and TensorFlow Lite Micro, then
write the project and the report. Stages are cached by hash, as for nn2mcu's own models."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu import tflm
from nn2mcu.boards import BOARDS
from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import lower
from nn2mcu.codegen.verify import VerifyOptions, format_verification, verify_program
from nn2mcu.datasets import load_dataset
from nn2mcu.datasets.tensors import random_tensors
from nn2mcu.errors import InputError
from nn2mcu.modelfile import (
    import_tflite,
    read_quantized,
    sha256_file,
    with_pixel_map,
    write_quantized,
)
from nn2mcu.pipeline.stages import Stages


@dataclass(frozen=True)
class ImportedRun:
    model: Path  # the .tflite
    output: Path
    data: str | None = None  # pixels mapped to the input tensor, or
    random: int | None = None  # N random int8 input tensors
    mean: float = 0.0  # x = (p - mean) * scale
    scale: float = 1.0
    target: str = "cortex-m4"
    board: str | None = None
    images: int | None = None
    progress: bool = True
    command: str | None = None  # the command line, for the report's provenance


def _inputs(options: ImportedRun, model: Any) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    shape = model.graph.shapes[model.graph.input_name]
    params = model.tensors[model.graph.input_name]
    if options.random is not None:
        tensors = random_tensors((shape.h, shape.w, shape.c), params.zero_point, options.random)
        return tensors, None, []
    assert options.data is not None
    dataset = load_dataset(options.data)
    test = dataset.test
    if test.images.shape[1:] != (shape.h, shape.w, shape.c):
        raise InputError(
            f"--data {options.data}: images are {'x'.join(map(str, test.images.shape[1:]))}, "
            f"the model takes {shape.h}x{shape.w}x{shape.c}"
        )
    count = len(test) if options.images is None else options.images
    if not 1 <= count <= len(test):
        raise InputError(f"-n {count}: the test split has {len(test)} images")
    return test.images[:count], test.labels[:count], list(dataset.classes)


def run_imported(options: ImportedRun, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every stage, then DIR/project and DIR/report.*; returns the report data."""
    if (options.data is None) == (options.random is None):
        raise InputError("run MODEL.tflite needs --data SPEC or --random N (one of them)")
    if options.random is not None and options.random < 1:
        raise InputError(f"--random {options.random}: give N >= 1")
    if options.board is not None and options.board not in BOARDS:
        raise InputError(f"--board {options.board}: unknown; known: {', '.join(sorted(BOARDS))}")
    if options.target != "host":
        from nn2mcu.codegen.cortex_m import check_tools

        check_tools()
    model = import_tflite(options.model)  # refuses before anything is written
    if options.data is not None:
        model = with_pixel_map(model, options.mean, options.scale)
    inputs, labels, classes = _inputs(options, model)
    digest = hashlib.sha256(np.ascontiguousarray(inputs).tobytes())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels).tobytes())
    inputs_key = digest.hexdigest()
    options.output.mkdir(parents=True, exist_ok=True)
    stages = Stages(options.output, log)
    source_key = {
        "model": sha256_file(options.model),
        "tflm": tflm.version(),
        "pixel_map": model.imported.pixel_map,
    }

    def imported(directory: Path) -> None:
        report = {"imported_from": str(options.model), "tflm_version": tflm.version()}
        write_quantized(
            model, directory / "model.json", calibration=None, weights_file=None, report=report
        )

    import_dir, import_key = stages.run(1, "import", source_key, imported)
    program = lower(read_quantized(import_dir / "model.json"))

    def generate(directory: Path) -> None:
        generate_atomically(program, directory / "project")

    generate_dir, generate_key = stages.run(2, "generate", {"model": import_key}, generate)
    project = generate_dir / "project"
    verified: dict[str, dict[str, Any]] = {}
    outputs: dict[str, np.ndarray] = {}
    targets = ["host"] + ([options.target] if options.target != "host" else [])
    for index, target in enumerate(targets, 3):
        key = {"project": generate_key, "target": target, "inputs": inputs_key}

        def verify(directory: Path, target: str = target) -> None:
            result = verify_program(
                program, inputs, labels,
                VerifyOptions(target=target, project=project, progress=options.progress, log=log),
            )  # fmt: skip
            (directory / "verify.json").write_text(json.dumps(result.summary, indent=2) + "\n")
            np.save(directory / "outputs.npy", result.outputs)

        verify_dir, _ = stages.run(index, f"verify-{target}", key, verify)
        verified[target] = json.loads((verify_dir / "verify.json").read_text())
        outputs[target] = np.load(verify_dir / "outputs.npy")
        log(format_verification(verified[target]))

    from nn2mcu.pipeline.run import publish_project
    from nn2mcu.report.build import write_imported_report
    from nn2mcu.report.provenance import provenance

    publish_project(project, options.output / "project")
    made = provenance(
        command=options.command, inputs={str(options.model): source_key["model"]},
        data=options.data if options.random is None else f"--random {options.random}",
        data_sha256=inputs_key, scheme="s8", target=options.target, board=options.board,
    )  # fmt: skip
    return write_imported_report(
        options.output, program=program, inputs=inputs, labels=labels, classes=classes,
        verified=verified, outputs=outputs, board=options.board, target=options.target,
        provenance=made,
    )  # fmt: skip
