"""Loading large Caffe nets: time per layer from 2,000 to 64,000 layers, and a ~50 MB file.

Each net is a chain of blocks Convolution (3x3, 8 channels, pad 1), BatchNorm, Scale and
ReLU on a 1 x 8 x 16 x 16 input, written to a temporary prototxt. Each size is parsed
(protobuf text format) and built into nn2mcu's graph (shapes checked, BatchNorm folded)
in this process, as `nn2mcu inspect` does before its table, with each text parser in
turn: protobuf's Python parser, protoc's C++ parser (a `grpc_tools.protoc` process), and
nn2mcu's default (Python below 128 KiB, protoc from there on). The table gives the median
over --runs of the parse and the whole load times and the load time per layer, and per
parser the ratio of the largest to the smallest net's time per layer up to 64,000 layers
(flat: near 1).

    .venv/bin/python benchmarks/caffe_load.py [--runs 3] [--sizes 2000,8000,32000,64000]
        [--megabytes 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from nn2mcu.frontends.caffe import files
from nn2mcu.frontends.caffe.files import read_net_or_solver
from nn2mcu.frontends.load import load_network

BLOCK = """layer {{ name: "conv{i}" type: "Convolution" bottom: "{bottom}" top: "conv{i}"
  convolution_param {{ num_output: 8 kernel_size: 3 pad: 1 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "bn{i}" type: "BatchNorm" bottom: "conv{i}" top: "conv{i}" }}
layer {{ name: "scale{i}" type: "Scale" bottom: "conv{i}" top: "conv{i}"
  scale_param {{ bias_term: true }} }}
layer {{ name: "relu{i}" type: "ReLU" bottom: "conv{i}" top: "conv{i}" }}
"""


def chain_prototxt(layers: int) -> str:
    """A net of ``layers`` layers (rounded down to whole blocks of 4) after its input."""
    parts = ['name: "chain"\ninput: "data"\ninput_shape { dim: 1 dim: 8 dim: 16 dim: 16 }\n']
    bottom = "data"
    for i in range(layers // 4):
        parts.append(BLOCK.format(i=i, bottom=bottom))
        bottom = f"conv{i}"
    return "".join(parts)


def measure(path: Path) -> tuple[float, float]:
    """(parse seconds, parse + build seconds) of one load."""
    started = time.perf_counter()
    read_net_or_solver(path)
    parsed = time.perf_counter()
    load_network(path)  # parses again, then builds the graph
    built = time.perf_counter()
    return parsed - started, (built - parsed)


PARSERS = {"python": 1 << 62, "protoc": 0, "default": files.PROTOC_FROM_BYTES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="2000,8000,32000,64000")
    parser.add_argument("--megabytes", type=float, default=50.0, help="0: no large file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    block_bytes = len(BLOCK.format(i=99999, bottom="conv99999"))
    if args.megabytes > 0:
        sizes.append(int(args.megabytes * 1e6 / block_bytes) * 4)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for layers in sizes:
            path = Path(directory) / f"chain{layers}.prototxt"
            path.write_text(chain_prototxt(layers))
            megabytes = path.stat().st_size / 1e6
            for name, threshold in PARSERS.items():
                files.PROTOC_FROM_BYTES = threshold
                runs = [measure(path) for _ in range(args.runs if layers <= 64000 else 1)]
                parse = statistics.median(r[0] for r in runs)
                load = statistics.median(r[1] for r in runs)
                rows.append((name, layers, megabytes, parse, load, 1e3 * load / layers))
            print(f"  {layers} layers done", flush=True)
    print(f"{'parser':>8} {'layers':>8} {'MB':>7} {'parse s':>8} {'load s':>8} {'ms/layer':>9}")
    for name, layers, megabytes, parse, load, per_layer in rows:
        print(
            f"{name:>8} {layers:>8} {megabytes:>7.1f} {parse:>8.2f} {load:>8.2f} {per_layer:>9.3f}"
        )
    for name in PARSERS:
        flat = [r for r in rows if r[0] == name and r[1] <= 64000]
        ratio = flat[-1][5] / flat[0][5]
        print(f"{name}: ms/layer at {flat[-1][1]:,} over {flat[0][1]:,} layers: {ratio:.2f}")


if __name__ == "__main__":
    main()
