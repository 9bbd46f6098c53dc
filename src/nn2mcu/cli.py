"""The ``nn2mcu`` command line.

Exit codes: 0 success, 1 verification failed, 2 bad input or usage (one line on
stderr naming what is at fault; a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nn2mcu import __version__
from nn2mcu.errors import InputError

if TYPE_CHECKING:
    from nn2mcu.codegen.lower import Program
    from nn2mcu.frontends.caffe import InputShapeSources
    from nn2mcu.ir import Graph

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

log = logging.getLogger("nn2mcu")


def _input_shape(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not C,H,W (three positive integers, e.g. 3,32,32)"
        )
    return (values[0], values[1], values[2])


def _check_data(dataset: Any, spec: str, graph: Graph) -> None:
    """The data set against the network: its image size and its label range."""
    from nn2mcu.datasets import check_fits

    shape = graph.shapes[graph.input_name]
    check_fits(dataset, spec, (shape.h, shape.w, shape.c), graph.shapes[graph.logits].size)


def _check_output(path: Path, flag: str = "-o") -> None:
    """Refuse, before any work, an output path that cannot be written: a parent that is a
    file, or a directory without write permission."""
    import os

    ancestor = path.parent if path.suffix else path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise InputError(f"{flag} {path}: {ancestor} is a file, not a directory")
    if ancestor.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: {ancestor} is not writable")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )
    return common


def _add_inspect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "inspect",
        parents=[_common()],
        help="show a network's layers, shapes, work and memory",
        description=(
            "Load a Caffe network definition (or the net a solver trains), or an ONNX model, "
            "into nn2mcu's IR and print one row per layer: output shape (HxWxC), "
            "kernel/stride/pad, MACs, parameters, weight bytes at 8 bit and activation "
            "bytes, with totals. With --weights (Caffe) or an ONNX model the parameters are "
            "loaded and checked, and BatchNorm/Scale layers are folded into the layer before "
            "them."
        ),
    )
    parser.add_argument(
        "net",
        metavar="NET|SOLVER|MODEL",
        type=Path,
        help="a net or solver .prototxt, a .onnx, or an int8 .tflite (its scales and zero "
        "points are shown too)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="W",
        help="trained weights: a binary .caffemodel or a .caffemodel.h5 (ONNX and TFLite "
        "models carry their own)",
    )
    parser.add_argument(
        "--input-shape",
        type=_input_shape,
        metavar="C,H,W",
        help="shape of one input image, for Data layers (which carry none); otherwise taken "
        "from the layer's mean_file, or from --data",
    )
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help="the data set the net reads (fashion-mnist, mnist, cifar10, digits, or a "
        "directory of CIFAR-10 binary batches or IDX files); gives Data layers their shape",
    )
    parser.add_argument(
        "--phase",
        choices=("TEST", "TRAIN"),
        default="TEST",
        help="which phase's layers to include (default: TEST)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.set_defaults(handler=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from nn2mcu.datasets import image_shape
    from nn2mcu.frontends.caffe import InputShapeSources
    from nn2mcu.frontends.load import load_network
    from nn2mcu.frontends.tflite import is_tflite
    from nn2mcu.inspect import format_table, summarize

    if is_tflite(args.net):
        return _inspect_tflite(args)
    sources = InputShapeSources(
        explicit=args.input_shape,
        data_shape=image_shape(args.data) if args.data else None,
        data_spec=args.data,
    )
    graph = load_network(args.net, weights=args.weights, phase=args.phase, sources=sources)
    summary = summarize(graph)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_table(graph, summary))
    return EXIT_OK


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _inspect_tflite(args: argparse.Namespace) -> int:
    """An int8 .tflite: the table, then each tensor's scale and zero point and the TFLite
    tensor it is."""
    from nn2mcu.frontends.tflite.reader import read_tflite
    from nn2mcu.inspect import format_table, summarize
    from nn2mcu.modelfile import import_tflite

    for flag in ("weights", "input_shape", "data"):
        if getattr(args, flag) is not None:
            raise InputError(f"--{flag.replace('_', '-')} is not for a .tflite (it has it all)")
    model = import_tflite(args.net)
    names = {t.index: t.name for t in read_tflite(args.net).tensors}
    summary = summarize(model.graph)
    rows = []
    for layer in model.graph.layers:
        params = model.tensors[layer.name]
        entry = {
            "layer": layer.name,
            "scale": params.scale,
            "zero_point": params.zero_point,
            "tflite_tensor": names[model.imported.tensors[layer.name]],
        }
        if layer.name in model.weighted:
            scales = model.weighted[layer.name].weight_scales
            entry["weight_scales"] = [float(scales.min()), float(scales.max())]
        rows.append(entry)
    summary["quantization"] = rows
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(format_table(model.graph, summary))
    print()
    print(f"{'layer':<12} {'scale':>12} {'zero point':>10}  {'weight scales':<21} TFLite tensor")
    for entry in rows:
        weights = entry.get("weight_scales")
        span = f"{weights[0]:.3g} .. {weights[1]:.3g}" if weights else ""
        print(
            f"{entry['layer']:<12} {entry['scale']:>12.6g} {entry['zero_point']:>10}  "
            f"{span:<21} {_shortened(entry['tflite_tensor'], 60)}"
        )
    return EXIT_OK


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        parents=[_common()],
        help="train a Caffe-defined network with PyTorch, with Caffe's solver semantics",
        description=(
            "Train with one or more Caffe solver files, one after the other: each continues "
            "from the previous one's weights, momentum history and iteration counter, as "
            "'caffe train --snapshot' does (so the seed's two solvers run 4000 + 1000 "
            "iterations). Snapshots are written as Caffe writes them (<snapshot_prefix>_iter_N"
            ".caffemodel[.h5] and .solverstate[.h5], plus a .json with the data cursor and "
            "random state). Ctrl-C writes a snapshot and stops; --resume continues from it."
        ),
    )
    parser.add_argument("solvers", metavar="SOLVER", nargs="+", type=Path, help="solver .prototxt")
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help="the data set for every Data layer (TRAIN layers read its training split, TEST "
        "layers its test split): fashion-mnist, mnist, cifar10, digits, a directory or an "
        ".npz; default: each Data layer's source, when that names a data set",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="SOLVERSTATE",
        help="continue the first solver from a .solverstate or .solverstate.h5",
    )
    parser.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="read the training split in a new random order each epoch (default: file order)",
    )
    parser.add_argument(
        "--snapshot-prefix",
        metavar="PREFIX",
        help="write snapshots to PREFIX_iter_N.* instead of the solvers' snapshot_prefix",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="PyTorch threads (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import torch

    from nn2mcu.train.session import TrainOptions, train_solvers
    from nn2mcu.train.trainer import TrainingDiverged, TrainingInterrupted

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    options = TrainOptions(
        data=args.data,
        resume=args.resume,
        shuffle=args.shuffle,
        snapshot_prefix=args.snapshot_prefix,
        progress=not args.no_progress,
    )
    try:
        result = train_solvers(args.solvers, options, log=lambda line: print(line, flush=True))
    except TrainingDiverged as error:
        raise InputError(
            f"training stopped: {error}; no snapshot was written for it (the last good one, if "
            "any, is kept); lower base_lr"
        ) from None
    except TrainingInterrupted as error:
        where = f"; resume with --resume {error.snapshot[1]}" if error.snapshot else ""
        print(f"nn2mcu: interrupted at iteration {error.iteration}{where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    rate = result.images / result.seconds if result.seconds else 0.0
    print(
        f"trained to iteration {result.iteration} in {result.seconds:.1f} s ({rate:.0f} images/s)"
    )
    if result.final_test:
        shown = ", ".join(f"{name} {value:.4f}" for name, value in result.final_test.items())
        print(f"final test: {shown}")
    if result.snapshots:
        print(f"weights: {result.snapshots[0]}")
    return EXIT_OK


def _add_quantize(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "quantize",
        parents=[_common()],
        help="quantize a trained network to 8 bits: q7 (legacy CMSIS-NN) or s8 (CMSIS-NN v4+)",
        description=(
            "q7 (default): choose a power-of-two format (Qm.n) for the input, and per "
            "convolution and inner product for its weights, bias and output, by the accuracy "
            "a bit-exact model of the CMSIS-NN q7 kernels gives on a calibration split of the "
            "training set (the first N training images after a permutation with seed 0; the "
            "test set is never used to choose). s8: TFLite's int8 scheme for the maintained "
            "CMSIS-NN s8 kernels: per-channel symmetric weights, asymmetric activations, "
            "int32 biases, a multiplier and shift per output channel; each layer's output "
            "range is min/max, percentile or least-squared-error clipping, whichever gives "
            "the bit-exact s8 simulator the best calibration accuracy. Writes model.json and "
            "model.npz and prints float and quantized test accuracy with per-layer figures."
        ),
    )
    parser.add_argument(
        "net",
        metavar="NET|SOLVER|MODEL",
        type=Path,
        help="a net or solver .prototxt, a .onnx, or an int8 .tflite (whose own scales and "
        "zero points are written as they are: no --data, no calibration)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="W",
        help="trained weights (Caffe; an ONNX model has its own)",
    )
    parser.add_argument(
        "--data", metavar="SPEC", help="the data set (required, except for a .tflite)"
    )
    parser.add_argument(
        "--scheme",
        choices=("q7", "s8"),
        help="q7: power-of-two formats for the legacy q7 kernels (default); s8: per-channel "
        "int8 for CMSIS-NN v4 and later (a .tflite is always s8)",
    )
    parser.add_argument(
        "--rounding",
        choices=("double", "single"),
        default="double",
        help="s8: arm_nn_requantize's rounding: double (CMSIS-NN's default, as TFLite's "
        "reference) or single (CMSIS-NN built with CMSIS_NN_USE_SINGLE_ROUNDING)",
    )
    parser.add_argument(
        "--pow2",
        action="store_true",
        help="s8: restrict every scale to a power of two (every multiplier is then 2^30)",
    )
    parser.add_argument(
        "--method",
        choices=("search", "arm"),
        default="search",
        help="q7: how formats are chosen: search (default: every tensor by the simulator's "
        "accuracy) or arm (ARM's nn_quantizer.py reproduced; figures still come from the "
        "simulator)",
    )
    parser.add_argument(
        "--arm-test-set",
        action="store_true",
        help="with --method arm, choose on the test set as the original did (not advised)",
    )
    parser.add_argument(
        "--calibration",
        type=int,
        metavar="N",
        help="calibration images (default: 2000, or all training images when fewer)",
    )
    _add_preprocessing(parser)
    parser.add_argument(
        "--average-pool",
        choices=("dsp", "2d"),
        default="dsp",
        help="the arm_avepool_q7_HWC to model: dsp (Cortex-M4/M7 builds, two truncating "
        "passes; default) or 2d (CMSIS-NN built without ARM_MATH_DSP, e.g. for a host)",
    )
    parser.add_argument(
        "--softmax",
        choices=("2019", "2018", "2017"),
        default="2019",
        help="the arm_softmax_q7 formula: 2019 (CMSIS 5.9.0, default), 2018, 2017",
    )
    parser.add_argument("--input-shape", type=_input_shape, metavar="C,H,W")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.json")
    parser.set_defaults(handler=_run_quantize)


def _add_preprocessing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mean",
        metavar="FILE|M[,M,M]",
        help="Caffe: a mean.binaryproto to use instead of the net's mean_file (which may name "
        "a path from another machine); ONNX: the mean M (one value, or one per channel) "
        "subtracted from 0..255 pixels, x = (p - M) * S",
    )
    parser.add_argument(
        "--scale",
        type=float,
        metavar="S",
        help="ONNX: the scale S of x = (p - M) * S (default: the model's metadata_props "
        "nn2mcu.scale, else 1)",
    )


def _load_with_preprocessing(args: argparse.Namespace, sources: InputShapeSources) -> Graph:
    """The network of ``args.net`` with --weights, --mean and --scale applied."""
    from nn2mcu.frontends.load import is_onnx, load_network
    from nn2mcu.frontends.onnx import parse_mean
    from nn2mcu.passes import use_mean_file

    if is_onnx(args.net):
        mean = parse_mean(args.mean, "--mean") if args.mean is not None else None
        return load_network(
            args.net, weights=args.weights, mean=mean, scale=args.scale, sources=sources
        )
    if args.weights is None:
        raise InputError(f"{args.net}: a Caffe net needs --weights W (the trained weights)")
    if args.scale is not None:
        raise InputError("--scale is for ONNX models; a Caffe net gives it in transform_param")
    graph = load_network(args.net, weights=args.weights, phase="TEST", sources=sources)
    if args.mean is not None:
        mean_file = Path(args.mean)
        if not mean_file.is_file():
            raise InputError(f"--mean {args.mean}: no such file")
        graph = use_mean_file(graph, mean_file)
    return graph


def _quantize_options(args: argparse.Namespace, calibration: int) -> Any:
    """The options of the chosen scheme's quantizer, refusing the other scheme's flags."""
    from nn2mcu.q7.model import AverageVariant, SoftmaxVersion
    from nn2mcu.quant.q7.quantize import QuantizeOptions
    from nn2mcu.quant.s8.quantize import S8Options

    if args.scheme == "s8":
        if args.method != "search" or args.arm_test_set:
            raise InputError("--method and --arm-test-set are for --scheme q7")
        if args.average_pool != "dsp" or args.softmax != "2019":
            raise InputError("--average-pool and --softmax are for --scheme q7")
        return S8Options(
            calibration=calibration, single_rounding=args.rounding == "single", pow2=args.pow2
        )
    if args.rounding != "double" or args.pow2:
        raise InputError("--rounding and --pow2 are for --scheme s8")
    return QuantizeOptions(
        method=args.method,
        calibration=calibration,
        arm_test_set=args.arm_test_set,
        pool_variant=AverageVariant(args.average_pool),
        softmax_version=SoftmaxVersion(args.softmax),
    )


def _run_quantize(args: argparse.Namespace) -> int:
    import time

    from nn2mcu.datasets import load_dataset
    from nn2mcu.frontends.caffe import InputShapeSources
    from nn2mcu.modelfile import calibration_record, write_quantized
    from nn2mcu.schemes import SCHEMES

    if args.output.suffix != ".json":
        raise InputError(f"-o {args.output}: the model file must end in .json")
    _check_output(args.output)
    from nn2mcu.frontends.tflite import is_tflite

    if is_tflite(args.net):
        return _quantize_tflite(args)
    if args.data is None:
        raise InputError("quantize needs --data SPEC (the calibration and test images)")
    args.scheme = args.scheme or "q7"
    started = time.perf_counter()
    dataset = load_dataset(args.data)
    sources = InputShapeSources(
        explicit=args.input_shape, data_shape=dataset.image_shape, data_spec=args.data
    )
    graph = _load_with_preprocessing(args, sources)
    _check_data(dataset, args.data, graph)
    calibration = (
        args.calibration if args.calibration is not None else min(2000, len(dataset.train))
    )
    options = _quantize_options(args, calibration)
    scheme = SCHEMES[args.scheme]
    result = scheme.quantize(graph, dataset, options, lambda line: print(line, flush=True))
    report = result.report
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_quantized(
        result.model,
        args.output,
        calibration=calibration_record(result.calibration, args.data),
        weights_file=args.weights or args.net,
        report=report,
        class_names=dataset.classes,
    )
    print(scheme.format_report(report))
    for warning in report.get("warnings", []):
        print(f"nn2mcu: warning: {warning}", file=sys.stderr)
    print(f"wrote {args.output} and {args.output.with_suffix('.npz')} in {report['seconds']} s")
    return EXIT_OK


def _quantize_tflite(args: argparse.Namespace) -> int:
    """An int8 .tflite written as model.json: TFLite's parameters as they are."""
    from nn2mcu import tflm
    from nn2mcu.modelfile import import_tflite, write_quantized

    given = [
        flag for flag, value in (
            ("--data", args.data), ("--weights", args.weights), ("--calibration", args.calibration),
            ("--pow2", args.pow2), ("--input-shape", args.input_shape),
        ) if value
    ]  # fmt: skip
    if given:
        raise InputError(
            f"{args.net}: {', '.join(given)} not used: an int8 TFLite model is kept as TFLite "
            "quantized it"
        )
    if args.scheme == "q7":
        raise InputError(f"{args.net}: an int8 TFLite model is an s8 model (not --scheme q7)")
    if args.rounding == "single":
        raise InputError(
            f"{args.net}: --rounding single is refused for imported models (TFLite Micro "
            "rounds twice)"
        )
    model = import_tflite(args.net)
    report = {"imported_from": str(args.net), "tflm_version": tflm.version()}
    write_quantized(model, args.output, calibration=None, weights_file=None, report=report)
    print(
        f"{args.net}: {len(model.graph.layers)} layers, {len(model.weighted)} weighted, kept "
        "as TFLite quantized them"
    )
    print(f"wrote {args.output} and {args.output.with_suffix('.npz')}")
    return EXIT_OK


def _add_generate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generate",
        parents=[_common()],
        help="generate the C project (weights.c/.h, parameter.h, nn.c/.h, main.c, Makefile, "
        "CMakeLists.txt, README.md)",
        description=(
            "Turn a quantized model.json into C that calls CMSIS-NN (the legacy q7 kernels for "
            "a q7 model, the s8 API for an s8 model): weights.c (the const arrays, defined "
            "once) and weights.h (their extern declarations), parameter.h (dimensions, shifts "
            "or quantization parameters, arena offsets, NN_ALIGN4 and compile-time alignment "
            "checks), nn.h/nn.c (nn_preprocess and nn_run, one kernel call per layer, one "
            "static arena planned by buffer lifetimes; nn_class_names when the data set "
            "names its classes), main.c (a host runner), a Makefile, a CMakeLists.txt (the "
            "static library nn2mcu_model) with cmake/arm-none-eabi.cmake, and a README.md for "
            "the engineer who takes it to a board, with nn2mcu's portable kernels in kernels/."
        ),
    )
    parser.add_argument(
        "model",
        type=Path,
        help="model.json from nn2mcu quantize, or an int8 .tflite (a raw-tensor project: "
        "nn_host INPUTS OUTPUTS reads and writes the model's int8 tensors)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--kernels",
        choices=("portable", "cmsis"),
        default="portable",
        help="portable: nn2mcu's kernels copied into DIR/kernels (default); cmsis: CMSIS-NN's "
        "legacy q7 kernels from the CMSIS 5.x tree named by CMSIS_5_ROOT (q7 models) or its s8 "
        "kernels from the CMSIS-NN tree named by CMSIS_NN_ROOT (s8 models)",
    )
    parser.add_argument(
        "--compat",
        choices=("cmsis-cifar10-example",),
        help="also write arm_nnexamples_cifar10_parameter.h and _weights.h for CMSIS-NN's own "
        "CIFAR-10 example (the version the network matches: (a) max/average/average pools "
        "and a pre-quantized input, or (b) max pools and a per-channel mean); any other "
        "network exits 2 naming the first layer that matches neither",
    )
    parser.add_argument(
        "--embed-images",
        type=int,
        metavar="N",
        help="also write images.h with the first N test images of --data, for a runner "
        "without files (make nn_embedded; on a board, the same main.c)",
    )
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help="the data set for --embed-images, and whose class names become nn_class_names "
        "(default: the names model.json records from quantize)",
    )
    parser.add_argument(
        "--kernel-prefix",
        metavar="PFX",
        help="rename every portable kernel function, type and file PFX + name (for example "
        "nn2mcu_arm_convolve_s8 in nn2mcu_arm_nnfunctions.h), so the project links beside "
        "a CMSIS-NN the vendor's pack already ships (portable kernels only)",
    )
    parser.add_argument(
        "--mean",
        type=float,
        metavar="M",
        help="imported models: also take uint8 pixels, x = (p - M) * S, q = clamp(round-half-"
        "away(x / scale) + zero point) (nn_quantize_pixels, a 256-entry table)",
    )
    parser.add_argument(
        "--scale", type=_fraction, metavar="S", help="imported models: the S of --mean"
    )
    parser.set_defaults(handler=_run_generate)


def _describe_program(program: Program) -> None:
    for index, call in enumerate(program.calls):
        note = program.overlay_note(index)
        print(
            f"{call.layer.name}: {call.kernel.name} ({call.kernel.reason})"
            + (f"; {note}" if note else "")
        )
    from nn2mcu.codegen.lower import flash_bytes

    flash = flash_bytes(program)
    print(
        f"RAM: arena {program.arena_size:,} bytes; flash: weights, biases and mean {flash:,} bytes"
    )


def _cmsis_root(program: Program) -> Path:
    """The CMSIS tree for --kernels cmsis: CMSIS_5_ROOT for q7, CMSIS_NN_ROOT for s8."""
    import os

    from nn2mcu.schemes import scheme_of

    scheme = scheme_of(program.model)
    return scheme.check_cmsis_root(os.environ.get(scheme.cmsis_variable), program.calls)


def _run_generate(args: argparse.Namespace) -> int:
    _check_output(args.output)
    from nn2mcu.codegen.emit import class_names_for
    from nn2mcu.codegen.host import generate_atomically
    from nn2mcu.codegen.lower import lower
    from nn2mcu.modelfile import read_model, recorded_class_names, with_pixel_map

    model = read_model(args.model)
    if args.mean is not None or args.scale is not None:
        model = with_pixel_map(model, args.mean, args.scale)
    program = lower(model, args.kernels)
    root = _cmsis_root(program) if args.kernels == "cmsis" else None
    images = None
    dataset = None
    if args.data is not None:
        from nn2mcu.datasets import load_dataset

        dataset = load_dataset(args.data)
    class_names, note = class_names_for(
        program, dataset.classes if dataset is not None else recorded_class_names(args.model)
    )
    if note is not None:
        print(f"nn2mcu: warning: {note}", file=sys.stderr)
    if args.embed_images is not None:
        if program.model.tensor_input:
            raise InputError(
                "--embed-images is for models that take pixels; a model imported from TFLite "
                "takes int8 tensors (nn_input_buffer())"
            )
        if dataset is None:
            raise InputError("--embed-images needs --data SPEC (the test images to embed)")
        test = dataset.test
        if not 1 <= args.embed_images <= len(test):
            raise InputError(
                f"--embed-images {args.embed_images}: the test split has {len(test)} images"
            )
        shape = program.model.graph.shapes[program.input_buffer]
        if test.images.shape[1:] != (shape.h, shape.w, shape.c):
            raise InputError(
                f"--data {args.data}: images are {'x'.join(map(str, test.images.shape[1:]))}, "
                f"the network takes {shape.h}x{shape.w}x{shape.c}"
            )
        images = (test.images[: args.embed_images], test.labels[: args.embed_images])
    _describe_program(program)
    generate_atomically(
        program, args.output, args.kernels, root, args.compat, images,
        kernel_prefix=args.kernel_prefix, class_names=class_names,
    )  # fmt: skip
    print(f"wrote {args.output}")
    return EXIT_OK


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "verify",
        parents=[_common()],
        help="build the generated C, run test images through it, compare with the simulator",
        description=(
            "Generate the C project for model.json (or an int8 .tflite), build it with -O2 -Wall "
            "-Wextra -Werror, run test images (or int8 input tensors) through it, many per "
            "process, and compare every output byte with the bit-exact simulator and, for a "
            "model imported from TFLite, with TensorFlow Lite Micro's reference interpreter. "
            "Exit 1 when any byte differs."
        ),
    )
    parser.add_argument(
        "model", type=Path, help="model.json from nn2mcu quantize, or an int8 .tflite"
    )
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help="the data set (test split); required for a model.json of nn2mcu's own, which "
        "takes pixels",
    )
    parser.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="imported models: N deterministic int8 input tensors (half uniform over "
        "-128..127, half near the input zero point) instead of --data",
    )
    parser.add_argument(
        "--mean",
        type=float,
        metavar="M",
        help="imported models with --data: pixels p become x = (p - M) * S (default 0)",
    )
    parser.add_argument(
        "--scale",
        type=_fraction,
        metavar="S",
        help="imported models with --data: the S of x = (p - M) * S (default 1; 1/255 is "
        "accepted); then q = clamp(round-half-away(x / input scale) + zero point)",
    )
    parser.add_argument(
        "--indices",
        type=Path,
        metavar="FILE.npy",
        help="imported models with --data: verify these test images (an .npy of indices)",
    )
    parser.add_argument(
        "--target",
        choices=("host", "cortex-m4", "cortex-m7"),
        default="host",
        help="host (gcc) or an emulated board: cortex-m4 (QEMU mps2-an386) or cortex-m7 "
        "(mps2-an500), built with arm-none-eabi-gcc, with instructions counted per layer",
    )
    parser.add_argument(
        "--kernels",
        choices=("portable", "cmsis"),
        default="portable",
        help="portable (default) or cmsis (CMSIS_5_ROOT for q7, CMSIS_NN_ROOT for s8); legacy "
        "CMSIS-NN built for the host takes "
        "its plain-C average-pool path, so the simulator's 2-D variant is the reference then",
    )
    parser.add_argument("-n", type=int, metavar="N", help="test images (default: all)")
    parser.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="verify this generated project as it is (for example after editing it) instead "
        "of generating a fresh one; it is copied and built, never changed",
    )
    parser.add_argument("--sanitize", action="store_true", help="build with ASan and UBSan")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="on a mismatch, dump every layer of the first differing image from the C and the "
        "simulator and name the first layer and element that differ",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_run_verify)


def _fraction(text: str) -> float:
    """A float, or a fraction such as 1/255."""
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            return float(top) / float(bottom)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a fraction") from None


def _verify_inputs(args: argparse.Namespace, program: Program) -> tuple[Any, Any]:
    """The inputs verify runs and their labels (None without labels): pixels for nn2mcu's
    own models, int8 tensors for imported ones."""
    import numpy as np

    from nn2mcu.datasets import load_dataset

    model = program.model
    if not model.tensor_input:
        for flag in ("random", "mean", "scale", "indices"):
            if getattr(args, flag) is not None:
                raise InputError(f"--{flag} is for models imported from TFLite (int8 tensors)")
        if args.data is None:
            raise InputError("verify needs --data SPEC (the test images)")
        dataset = load_dataset(args.data)
        _check_data(dataset, args.data, model.graph)
        count = len(dataset.test) if args.n is None else args.n
        if not 1 <= count <= len(dataset.test):
            raise InputError(
                f"-n {count}: give 1..{len(dataset.test)} (the test split has "
                f"{len(dataset.test)} images)"
            )
        return dataset.test.images[:count], dataset.test.labels[:count]
    from nn2mcu.datasets.tensors import random_tensors
    from nn2mcu.schemes import SCHEMES

    shape = model.graph.shapes[model.graph.input_name]
    params = SCHEMES["s8"].tensor_parameters(model)[model.graph.input_name]
    if (args.random is None) == (args.data is None):
        raise InputError("an imported model needs --data SPEC or --random N (one of them)")
    if args.random is not None:
        if args.random < 1 or args.indices is not None or args.mean is not None:
            raise InputError(
                f"--random {args.random}: give N >= 1, without --indices, --mean or --scale"
            )
        tensors = random_tensors((shape.h, shape.w, shape.c), params.zero_point, args.random)
        return tensors[: args.n] if args.n else tensors, None
    dataset = load_dataset(args.data)
    images, labels = dataset.test.images, dataset.test.labels
    if images.shape[1:] != (shape.h, shape.w, shape.c):
        raise InputError(
            f"--data {args.data}: images are {'x'.join(map(str, images.shape[1:]))}, the "
            f"model takes {shape.h}x{shape.w}x{shape.c}"
        )
    if args.indices is not None:
        try:
            chosen = np.load(args.indices, allow_pickle=False).astype(np.int64).ravel()
        except (OSError, ValueError) as error:
            raise InputError(f"--indices {args.indices}: not a readable .npy ({error})") from None
        if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(images):
            raise InputError(f"--indices {args.indices}: indices must lie in 0..{len(images) - 1}")
        images, labels = images[chosen], labels[chosen]
    if args.n is not None:
        if not 1 <= args.n <= len(images):
            raise InputError(f"-n {args.n}: there are {len(images)} images")
        images, labels = images[: args.n], labels[: args.n]
    return images, labels  # uint8 pixels: the project maps them (nn_quantize_pixels)


def _run_verify(args: argparse.Namespace) -> int:

    from nn2mcu.codegen.cortex_m import TargetFailure
    from nn2mcu.codegen.lower import lower
    from nn2mcu.codegen.verify import VerifyOptions, format_verification, verify_program
    from nn2mcu.modelfile import read_model, with_pixel_map

    model = read_model(args.model)
    if model.tensor_input and args.data is not None:
        model = with_pixel_map(model, args.mean, args.scale)
    program = lower(model, args.kernels)
    root = _cmsis_root(program) if args.kernels == "cmsis" else None
    inputs, labels = _verify_inputs(args, program)
    if args.project is not None and not (args.project / "Makefile").is_file():
        raise InputError(f"--project {args.project}: no Makefile there (not a generated project)")
    if args.sanitize and args.target != "host":
        raise InputError("--sanitize is for --target host (ASan and UBSan run on the host)")
    if not args.json:
        _describe_program(program)
    options = VerifyOptions(
        target=args.target,
        kernels=args.kernels,
        cmsis_root=root,
        project=args.project,
        sanitize=args.sanitize,
        trace=args.trace,
        progress=not args.json,
        log=None if args.json else print,
    )
    report = (
        {} if program.model.tensor_input else json.loads(args.model.read_text()).get("report", {})
    )
    if report.get("test_images") not in (None, len(inputs)):
        report = {}  # its float accuracy is over another number of images: not comparable
    try:
        result = verify_program(
            program, inputs, labels, options, float_accuracy=report.get("float_accuracy")
        )
    except TargetFailure as failure:
        print(f"nn2mcu: verify: {failure}", file=sys.stderr)
        return EXIT_MISMATCH
    summary = result.summary
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_verification(summary))
    failed = summary["mismatches"] or summary.get("tflm_mismatches", 0)
    return EXIT_MISMATCH if failed else EXIT_OK


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        parents=[_common()],
        help="the whole workflow in one command: train, quantize, generate, verify, report",
        description=(
            "Train (chained solvers as in train, unless --weights is given or the model is "
            "ONNX; a missing mean file is computed), quantize, generate, build, and verify on "
            "the host and on the target, then write DIR/project (the verified project), "
            "DIR/report.html, DIR/report.md and DIR/report.json. Each finished stage is kept under "
            "DIR/stages/<n>-<name>/ with a hash of its inputs: a rerun reuses a stage when "
            "nothing it depends on changed."
        ),
    )
    parser.add_argument(
        "definitions",
        metavar="SOLVER|NET|MODEL",
        nargs="+",
        type=Path,
        help="solver .prototxt files to train in order, one net with --weights, one .onnx "
        "model (trained elsewhere), or one int8 .tflite (imported as it is)",
    )
    parser.add_argument(
        "--weights", type=Path, metavar="W", help="Caffe: trained weights, so no training"
    )
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help="the data set (required, except for a .tflite run with --random N)",
    )
    parser.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="a .tflite model: N deterministic random int8 input tensors instead of --data",
    )
    parser.add_argument(
        "--scheme",
        choices=("q7", "s8"),
        help="q7: legacy CMSIS-NN q7 kernels (default); s8: per-channel int8 for CMSIS-NN v4+ "
        "(a .tflite is always s8)",
    )
    parser.add_argument(
        "--method",
        choices=("search", "arm"),
        default="search",
        help="q7: how formats are chosen (as in quantize)",
    )
    parser.add_argument(
        "--target",
        choices=("host", "cortex-m4", "cortex-m7"),
        default="cortex-m4",
        help="where the C is verified besides the host (default: cortex-m4 under QEMU)",
    )
    parser.add_argument(
        "--board", metavar="NAME", help="budget flash and RAM against a board (nucleo-f411re, ...)"
    )
    parser.add_argument(
        "--mean",
        metavar="FILE|M[,M,M]",
        help="Caffe with --weights: this mean.binaryproto instead of the net's mean_file (which "
        "may name a path on another machine; computed from --data when it does not exist); "
        "ONNX and TFLite: the mean M subtracted from 0..255 pixels, x = (p - M) * S",
    )
    parser.add_argument(
        "--scale",
        type=_fraction,
        metavar="S",
        help="ONNX and TFLite: the S of x = (p - M) * S (1/255 is accepted)",
    )
    parser.add_argument("--calibration", type=int, metavar="N", help="calibration images")
    parser.add_argument("--shuffle", type=int, metavar="SEED", help="shuffle the training data")
    parser.add_argument("-n", type=int, metavar="N", help="test images to verify (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    parser.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    """run, leaving nothing behind when it refuses before a stage finished."""
    from nn2mcu.pipeline.lock import LOCK_NAME, run_lock

    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"-o {args.output}: exists and is not a directory")
    _check_output(args.output)
    fresh = not args.output.exists()
    try:
        with run_lock(args.output):
            return _run_run_stages(args)
    except (InputError, KeyboardInterrupt) as error:
        if fresh and not (isinstance(error, InputError) and LOCK_NAME in str(error)):
            _remove_unfinished(args.output)
        raise


def _remove_unfinished(output: Path) -> None:
    """Remove a directory this run made, unless a stage finished in it (its work is kept
    for the rerun)."""
    import shutil

    stages = output / "stages"
    finished = stages.is_dir() and any(not entry.name.startswith(".") for entry in stages.iterdir())
    if output.is_dir() and not finished:
        shutil.rmtree(output, ignore_errors=True)


def _run_run_stages(args: argparse.Namespace) -> int:
    from nn2mcu.codegen.cortex_m import TargetFailure

    # the output was checked by _run_run before the lock made it
    from nn2mcu.frontends.load import is_onnx
    from nn2mcu.frontends.onnx import parse_mean
    from nn2mcu.frontends.tflite import is_tflite
    from nn2mcu.pipeline.run import RunOptions, run_pipeline

    if any(is_tflite(path) for path in args.definitions):
        return _run_imported(args)
    if args.random is not None:
        raise InputError("--random is for a model imported from TFLite")
    if args.data is None:
        raise InputError("run needs --data SPEC (the data set)")
    args.scheme = args.scheme or "q7"
    if args.scheme == "s8" and args.method != "search":
        raise InputError("--method is for --scheme q7")
    onnx = any(is_onnx(path) for path in args.definitions)
    args.output.mkdir(parents=True, exist_ok=True)
    options = RunOptions(
        definitions=tuple(args.definitions),
        data=args.data,
        output=args.output,
        weights=args.weights,
        method=args.method,
        scheme=args.scheme,
        target=args.target,
        board=args.board,
        calibration=args.calibration,
        shuffle=args.shuffle,
        images=args.n,
        progress=not args.no_progress,
        mean=None if args.mean is None or onnx else Path(args.mean),
        mean_values=parse_mean(args.mean, "--mean") if args.mean is not None and onnx else None,
        scale=args.scale,
        command=args.command_line,
    )
    from nn2mcu.train.trainer import TrainingInterrupted

    try:
        report = run_pipeline(options, log=lambda line: print(line, flush=True))
    except TargetFailure as failure:
        print(f"nn2mcu: run: {failure}", file=sys.stderr)
        return EXIT_MISMATCH
    except TrainingInterrupted as interrupted:
        kept = f"; its snapshot {interrupted.snapshot[1]} is kept" if interrupted.snapshot else ""
        print(
            f"nn2mcu: interrupted at iteration {interrupted.iteration}{kept}; run the same "
            "command again to continue the training from it",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"wrote {args.output / 'project'}, report.html, report.md and report.json")
    failed = [s for s in (report, report.get("host")) if s is not None and s["mismatches"]]
    return EXIT_MISMATCH if failed else EXIT_OK


def _run_imported(args: argparse.Namespace) -> int:
    """run MODEL.tflite: import, generate, verify against the simulator and TFLM, report."""
    from nn2mcu.codegen.cortex_m import TargetFailure
    from nn2mcu.pipeline.imported import ImportedRun, run_imported

    if len(args.definitions) != 1:
        raise InputError("give one .tflite model, without solvers")
    given = [
        flag for flag, value in (
            ("--weights", args.weights), ("--calibration", args.calibration),
            ("--shuffle", args.shuffle),
        ) if value is not None
    ]  # fmt: skip
    if given or args.method != "search":
        raise InputError(
            f"{args.definitions[0]}: {', '.join(given) or '--method'} not used: an int8 TFLite "
            "model is kept as TFLite quantized it"
        )
    if args.scheme == "q7":
        raise InputError(f"{args.definitions[0]}: an int8 TFLite model is an s8 model")
    try:
        mean = 0.0 if args.mean is None else float(args.mean)
    except ValueError:
        raise InputError(f"--mean {args.mean}: a TFLite model's M is one number") from None
    options = ImportedRun(
        model=args.definitions[0], output=args.output, data=args.data, random=args.random,
        mean=mean, scale=1.0 if args.scale is None else args.scale, target=args.target,
        board=args.board, images=args.n, progress=not args.no_progress,
        command=args.command_line,
    )  # fmt: skip
    try:
        report = run_imported(options, log=lambda line: print(line, flush=True))
    except TargetFailure as failure:
        print(f"nn2mcu: run: {failure}", file=sys.stderr)
        return EXIT_MISMATCH
    print(f"wrote {args.output / 'project'}, report.html, report.md and report.json")
    failed = [
        s for s in (report, report.get("host"))
        if s is not None and (s["mismatches"] or s.get("tflm_mismatches"))
    ]  # fmt: skip
    return EXIT_MISMATCH if failed else EXIT_OK


def _add_mean(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "mean",
        parents=[_common()],
        help="compute a data set's mean image as mean.binaryproto",
        description=(
            "Compute the per-pixel mean of a data set's training images and write it as a "
            "Caffe BlobProto (1 x C x H x W), as Caffe's compute_image_mean does."
        ),
    )
    parser.add_argument("--data", metavar="SPEC", required=True, help="the data set")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    parser.set_defaults(handler=_run_mean)


def _run_mean(args: argparse.Namespace) -> int:
    from nn2mcu.datasets import load_dataset
    from nn2mcu.mean import image_mean, write_mean_file

    _check_output(args.output)
    dataset = load_dataset(args.data)
    mean = image_mean(dataset)
    write_mean_file(mean, args.output)
    c, h, w = mean.shape
    print(f"{args.output}: mean of {len(dataset.train)} training images, {c}x{h}x{w}")
    return EXIT_OK


def _add_download(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nn2mcu.datasets import SOURCES

    parser = commands.add_parser(
        "download",
        parents=[_common()],
        help="download a public data set into the cache (needs internet)",
        description=(
            "Download a data set from its official address, check its published MD5 sums and "
            "store it under $NN2MCU_CACHE or ~/.cache/nn2mcu, where --data NAME finds it."
        ),
    )
    parser.add_argument("name", choices=sorted(SOURCES), help="the data set")
    parser.set_defaults(handler=_run_download)


def _run_download(args: argparse.Namespace) -> int:
    from nn2mcu.datasets import download

    print(f"{args.name}: {download(args.name)}")
    return EXIT_OK


def _add_supported_ops(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "supported-ops",
        parents=[_common()],
        help="the operators each scheme supports, with CMSIS-NN functions and constraints",
        description=(
            "List every operator and scheme (q7: the legacy CMSIS-NN q7 API; s8: CMSIS-NN's "
            "s8 API): the CMSIS-NN functions the layer's call uses and every constraint it "
            "must meet, or why the scheme refuses the operator. Generated from the bindings "
            "in each operator's module."
        ),
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON list")
    output.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.set_defaults(handler=_run_supported_ops)


def _run_supported_ops(args: argparse.Namespace) -> int:
    from nn2mcu.supported import format_markdown, format_text, supported_ops

    rows = supported_ops()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.markdown:
        print(format_markdown(rows), end="")
    else:
        print(format_text(rows), end="")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nn2mcu",
        description=(
            "nn2mcu takes a neural network from its definition to C code for Arm Cortex-M "
            "microcontrollers that calls CMSIS-NN, and proves the code computes exactly what "
            "its integer model predicts."
        ),
        epilog="Run 'nn2mcu COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"nn2mcu {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_inspect(commands)
    _add_train(commands)
    _add_quantize(commands)
    _add_generate(commands)
    _add_verify(commands)
    _add_run(commands)
    _add_mean(commands)
    _add_download(commands)
    _add_supported_ops(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code: 0 success, 1 a verification that found
    differences, 2 bad input or usage, 3 an internal error (a bug in nn2mcu), 130 Ctrl-C.
    Nothing escapes as a traceback unless --debug is given."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage errors (2) and --help (0), printed by argparse
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    debug = bool(getattr(args, "debug", False))
    from nn2mcu.report.provenance import command_line

    args.command_line = command_line(argv)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="nn2mcu: %(levelname)s: %(message)s",
        force=True,  # main() may run many times in one process (the fuzz tier does)
    )
    try:
        result: int = args.handler(args)
        return result
    except InputError as error:
        if debug:
            raise
        message = " ".join(str(error).split("\n"))
        print(f"nn2mcu: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # writing an output the checks could not foresee
        if debug:
            raise
        where = error.filename if error.filename else "output"
        print(f"nn2mcu: error: {where}: {error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("nn2mcu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            raise
        message = " ".join(str(error).split())
        print(
            f"nn2mcu: internal error: {type(error).__name__}: {message} (a bug in nn2mcu; "
            "--debug shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
