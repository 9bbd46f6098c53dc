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

from nn2mcu import __version__
from nn2mcu.errors import InputError

EXIT_OK = 0
EXIT_BAD_INPUT = 2

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
            "Load a Caffe network definition (or the net a solver trains) into nn2mcu's IR "
            "and print one row per layer: output shape (HxWxC), kernel/stride/pad, MACs, "
            "parameters, weight bytes at 8 bit and activation bytes, with totals. With "
            "--weights the parameters are loaded and checked against the net, and "
            "BatchNorm/Scale layers are folded into the layer before them."
        ),
    )
    parser.add_argument("net", metavar="NET|SOLVER", type=Path, help="a net or solver .prototxt")
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="W",
        help="trained weights: a binary .caffemodel or a .caffemodel.h5",
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
    from nn2mcu.frontends.caffe import InputShapeSources, load_net
    from nn2mcu.inspect import format_table, summarize

    sources = InputShapeSources(
        explicit=args.input_shape,
        data_shape=image_shape(args.data) if args.data else None,
        data_spec=args.data,
    )
    graph = load_net(args.net, weights=args.weights, phase=args.phase, sources=sources)
    summary = summarize(graph)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_table(graph, summary))
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="nn2mcu: %(levelname)s: %(message)s",
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
    except KeyboardInterrupt:
        print("nn2mcu: interrupted", file=sys.stderr)
        return 130
