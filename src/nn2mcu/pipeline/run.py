"""``nn2mcu run``: train (unless weights are given), quantize, generate, build and verify,
then write the project and the report. Stages are cached by hash (stages.py)."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2mcu.atomic import publish_directory
from nn2mcu.boards import BOARDS
from nn2mcu.codegen.emit import class_names_for
from nn2mcu.codegen.host import generate_atomically
from nn2mcu.codegen.lower import lower
from nn2mcu.codegen.verify import VerifyOptions, format_verification, verify_program
from nn2mcu.datasets import Dataset, check_fits, load_dataset
from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import InputShapeSources
from nn2mcu.frontends.caffe.files import read_net_or_solver
from nn2mcu.frontends.caffe.loader import build_net, load_definition
from nn2mcu.frontends.load import is_onnx, load_network
from nn2mcu.ir import Graph
from nn2mcu.modelfile import calibration_record, read_quantized, sha256_file, write_quantized
from nn2mcu.passes import use_mean_file
from nn2mcu.pipeline.partial_training import PARTIAL_TRAINING, PartialTraining
from nn2mcu.pipeline.stages import Stages, key_hash


@dataclass(frozen=True)
class RunOptions:
    definitions: tuple[Path, ...]  # solvers, or one net (with weights)
    data: str
    output: Path
    weights: Path | None = None
    method: str = "search"
    scheme: str = "q7"  # q7 or s8
    target: str = "cortex-m4"
    board: str | None = None
    calibration: int | None = None
    shuffle: int | None = None
    images: int | None = None  # test images to verify (default: all)
    progress: bool = True
    mean: Path | None = None  # with weights: this mean file instead of the net's (made if missing)
    mean_values: tuple[float, ...] | None = None  # ONNX: x = (p - mean) * scale
    scale: float | None = None
    command: str | None = None  # the command line, for the report's provenance


def dataset_hash(dataset: Dataset) -> str:
    digest = hashlib.sha256()
    for split in (dataset.train, dataset.test):
        digest.update(np.ascontiguousarray(split.images).tobytes())
        digest.update(np.ascontiguousarray(split.labels).tobytes())
    return digest.hexdigest()


def _onnx(options: RunOptions) -> bool:
    return len(options.definitions) == 1 and is_onnx(options.definitions[0])


def _check(options: RunOptions) -> None:
    if options.board is not None and options.board not in BOARDS:
        raise InputError(f"--board {options.board}: unknown; known: {', '.join(sorted(BOARDS))}")
    if any(is_onnx(path) for path in options.definitions):
        if not _onnx(options):
            raise InputError("give one ONNX model, without solvers")
        if options.weights is not None:
            raise InputError("--weights is for Caffe nets; an ONNX model carries its weights")
        if not options.definitions[0].is_file():
            raise InputError(f"{options.definitions[0]}: no such file")
    elif options.mean_values is not None or options.scale is not None:
        raise InputError("mean values and --scale are for ONNX models")
    elif options.weights is None:
        for path in options.definitions:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            parsed = read_net_or_solver(path)
            if parsed.DESCRIPTOR.name != "SolverParameter":
                raise InputError(f"{path}: a net, not a solver; give --weights W to skip training")
    elif len(options.definitions) != 1:
        raise InputError("with --weights give one NET (or solver) prototxt")
    elif not options.weights.is_file():
        raise InputError(f"--weights {options.weights}: no such file")
    if options.mean is not None and options.weights is None:
        raise InputError(
            "--mean goes with --weights; for training, the solver's net names its mean file"
        )
    if options.target != "host":
        from nn2mcu.codegen.cortex_m import check_tools

        check_tools()


def _compute_missing_means(
    options: RunOptions, dataset: Dataset, log: Callable[[str], None]
) -> list[Path]:
    """Write the mean files the nets name but that do not exist (as `nn2mcu mean` would)."""
    from nn2mcu.mean import image_mean, write_mean_file

    if options.mean is not None:
        if not options.mean.exists():
            log(f"computing the mean of {options.data}'s training images into {options.mean}")
            write_mean_file(image_mean(dataset), options.mean)
        return [options.mean]
    sources = InputShapeSources(data_shape=dataset.image_shape, data_spec=options.data)
    means = []
    for path in options.definitions:
        for phase in ("TRAIN", "TEST"):
            net, net_path = load_definition(path, phase)
            caffe_net = build_net(net, net_path, phase=phase, sources=sources)
            for name in caffe_net.missing_means.values():
                target = Path(name)
                if not target.exists():
                    log(f"computing the mean of {options.data}'s training images into {target}")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_mean_file(image_mean(dataset), target)
                means.append(target)
    return means


def run_pipeline(options: RunOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs every stage and writes DIR/project and DIR/report.*; returns the report data."""
    _check(options)
    dataset = load_dataset(options.data)
    count = len(dataset.test) if options.images is None else options.images
    if not 1 <= count <= len(dataset.test):
        raise InputError(f"-n {count}: the test split has {len(dataset.test)} images")
    data_key = dataset_hash(dataset)
    for entry in options.output.glob(".project.*"):  # left by a killed run
        shutil.rmtree(entry, ignore_errors=True)
    for entry in options.output.glob(".report.*"):
        entry.unlink(missing_ok=True)
    means = [] if _onnx(options) else _compute_missing_means(options, dataset, log)
    stages = Stages(options.output, log)
    definitions = {str(p): sha256_file(p) for p in options.definitions}
    net_files = {}
    for path in [] if _onnx(options) else options.definitions:
        for phase in ("TRAIN", "TEST"):
            _, net_path = load_definition(path, phase)
            net_files[str(net_path)] = sha256_file(net_path)
    mean_files = {str(p): sha256_file(p) for p in means if p.exists()}
    index = 1

    # 1. train
    if _onnx(options):  # trained elsewhere: the model carries its weights
        weights = options.definitions[0]
        weights_key = definitions[str(weights)]
    elif options.weights is None:
        key: dict[str, Any] = {
            "definitions": definitions,
            "nets": net_files,
            "means": mean_files,
            "data": data_key,
            "shuffle": options.shuffle,
        }

        partial = PartialTraining(stages.root.resolve() / PARTIAL_TRAINING, key_hash(key))

        def train(directory: Path) -> None:
            from nn2mcu.train.session import TrainOptions, train_solvers
            from nn2mcu.train.trainer import TrainingInterrupted

            first, resume = partial.resume_point(log)
            try:
                result = train_solvers(
                    list(options.definitions)[first:],
                    TrainOptions(
                        data=options.data,
                        shuffle=options.shuffle,
                        resume=resume,
                        snapshot_prefix=str(partial.directory / "net"),
                        progress=options.progress,
                    ),
                    log=log,
                )
            except TrainingInterrupted as interrupted:
                interrupted.solver += first
                partial.record(interrupted)
                raise
            if not result.snapshots:
                raise InputError("training wrote no snapshot (max_iter 0?)")
            final = result.snapshots[0]
            shutil.copyfile(final, directory / ("weights" + "".join(final.suffixes[-2:])))
            (directory / "training.json").write_text(
                json.dumps(
                    {
                        "iteration": result.iteration,
                        "final_test": result.final_test,
                        "seconds": round(result.seconds, 1),
                        "images": result.images,
                    },
                    indent=2,
                )
                + "\n"
            )

        train_dir, weights_key = stages.run(index, "train", key, train)
        partial.remove()
        index += 1
        weights = next(p for p in sorted(train_dir.iterdir()) if p.name.startswith("weights"))
    else:
        weights, weights_key = options.weights, sha256_file(options.weights)

    # 2. quantize
    definition = options.definitions[-1]
    key = {
        "weights": weights_key,
        "definition": definitions[str(definition)],
        "nets": net_files,
        "means": mean_files,
        "data": data_key,
        "method": options.method,
        "calibration": options.calibration,
        **({"scheme": options.scheme} if options.scheme != "q7" else {}),
        **({"mean": options.mean_values, "scale": options.scale} if _onnx(options) else {}),
    }

    @functools.cache
    def float_graph() -> Graph:
        """The trained float network, loaded once (for the quantize stage and the report)."""
        sources = InputShapeSources(data_shape=dataset.image_shape, data_spec=options.data)
        return _float_graph(definition, weights, sources, options, dataset)

    def quantize(directory: Path) -> None:
        from nn2mcu.quant.q7.quantize import QuantizeOptions
        from nn2mcu.quant.s8.quantize import S8Options
        from nn2mcu.schemes import SCHEMES

        calibration = options.calibration or min(2000, len(dataset.train))
        scheme_options: QuantizeOptions | S8Options
        if options.scheme == "s8":
            scheme_options = S8Options(calibration=calibration)
        else:
            scheme_options = QuantizeOptions(method=options.method, calibration=calibration)
        quantized = SCHEMES[options.scheme].quantize(float_graph(), dataset, scheme_options, log)
        write_quantized(
            quantized.model,
            directory / "model.json",
            calibration=calibration_record(quantized.calibration, options.data),
            weights_file=weights,
            report=quantized.report,
            class_names=dataset.classes,
        )

    quantize_dir, quantize_key = stages.run(index, "quantize", key, quantize)
    index += 1
    model_json = quantize_dir / "model.json"
    for warning in json.loads(model_json.read_text())["report"].get("warnings", []):
        print(f"nn2mcu: warning: {warning}", file=sys.stderr, flush=True)
    program = lower(read_quantized(model_json))

    # 3. generate
    class_names, note = class_names_for(program, dataset.classes)
    if note is not None:
        print(f"nn2mcu: warning: {note}", file=sys.stderr, flush=True)

    def generate(directory: Path) -> None:
        generate_atomically(program, directory / "project", class_names=class_names)

    generate_key_parts = {"model": quantize_key, "class_names": list(class_names or ())}
    generate_dir, generate_key = stages.run(index, "generate", generate_key_parts, generate)
    index += 1
    project = generate_dir / "project"

    # 4, 5. verify on the host, then on the target
    model_report = json.loads(model_json.read_text()).get("report", {})
    verified: dict[str, dict[str, Any]] = {}
    predictions: dict[str, np.ndarray] = {}
    targets = ["host"] + ([options.target] if options.target != "host" else [])
    for target in targets:
        key = {"project": generate_key, "target": target, "images": count, "data": data_key}

        def verify(directory: Path, target: str = target) -> None:
            result = verify_program(
                program,
                dataset.test.images[:count],
                dataset.test.labels[:count],
                VerifyOptions(target=target, project=project, progress=options.progress, log=log),
                float_accuracy=model_report.get("float_accuracy"),
            )
            (directory / "verify.json").write_text(json.dumps(result.summary, indent=2) + "\n")
            np.save(directory / "outputs.npy", result.outputs)

        verify_dir, _ = stages.run(index, f"verify-{target}", key, verify)
        index += 1
        verified[target] = json.loads((verify_dir / "verify.json").read_text())
        predictions[target] = np.load(verify_dir / "outputs.npy")
        log(format_verification(verified[target]))

    publish_project(project, options.output / "project")

    from nn2mcu.report.build import write_report
    from nn2mcu.report.provenance import provenance

    inputs = {**definitions, **net_files, **mean_files}
    if options.weights is not None:
        inputs[str(options.weights)] = weights_key
    inputs[str(model_json)] = sha256_file(model_json)
    made = provenance(
        command=options.command, inputs=inputs, data=options.data, data_sha256=data_key,
        scheme=options.scheme, target=options.target, board=options.board,
    )  # fmt: skip
    return write_report(
        options.output,
        model_json=model_json,
        program=program,
        float_graph=float_graph(),
        dataset=dataset,
        images=count,
        verified=verified,
        outputs=predictions,
        board=options.board,
        target=options.target,
        provenance=made,
    )


def _float_graph(
    definition: Path, weights: Path, sources: InputShapeSources, options: RunOptions,
    dataset: Dataset,
) -> Graph:  # fmt: skip
    """The trained float network (with --mean FILE, preprocessed with that mean file)."""
    if _onnx(options):
        graph = load_network(definition, mean=options.mean_values, scale=options.scale,
                             sources=sources)  # fmt: skip
        shape = graph.shapes[graph.input_name]
        check_fits(dataset, options.data, (shape.h, shape.w, shape.c),
                   graph.shapes[graph.logits].size)  # fmt: skip
        return graph
    graph = load_network(definition, weights=weights, phase="TEST", sources=sources)
    shape = graph.shapes[graph.input_name]
    check_fits(dataset, options.data, (shape.h, shape.w, shape.c), graph.shapes[graph.logits].size)
    return graph if options.mean is None else use_mean_file(graph, options.mean)


def publish_project(source: Path, destination: Path) -> None:
    """Copy the verified project to DIR/project, replacing an earlier one atomically."""
    staging = Path(tempfile.mkdtemp(prefix=".project.", dir=destination.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        publish_directory(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
