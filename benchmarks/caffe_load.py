"""Loading large Caffe nets: time per layer from 2,000 to 64,000 layers, and a ~50 MB file.

Each net is a chain of blocks Convolution (3x3, 8 channels, pad 1), BatchNorm, Scale and
ReLU on a 1 x 8 x 16 x 16 input, written to a temporary prototxt. Each size is parsed
(protobuf text format) and built into nn2mcu's graph (shapes checked, BatchNorm folded)
in this process, as `nn2mcu inspect` does before its table; the table gives the
median over --runs of the parse and build times and the time per layer, and the ratio of
the largest to the smallest net's time per layer (flat: near 1).

    .venv/bin/python benchmarks/caffe_load.py [--runs 3] [--sizes 2000,8000,32000,64000]
        [--megabytes 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

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
            runs = [measure(path) for _ in range(args.runs if layers <= 64000 else 1)]
            parse = statistics.median(r[0] for r in runs)
            load = statistics.median(r[1] for r in runs)
            megabytes = path.stat().st_size / 1e6
            rows.append((layers, megabytes, parse, load, 1e3 * load / layers))
            print(f"  {layers} layers done", flush=True)
    print(f"{'layers':>8} {'MB':>7} {'parse s':>8} {'load s':>8} {'ms/layer':>9}")
    for layers, megabytes, parse, load, per_layer in rows:
        print(f"{layers:>8} {megabytes:>7.1f} {parse:>8.2f} {load:>8.2f} {per_layer:>9.3f}")
    flat = [r for r in rows if r[0] <= 64000]
    print(
        f"ms/layer, largest over smallest net up to 64,000 layers: {flat[-1][4] / flat[0][4]:.2f}"
    )


if __name__ == "__main__":
    main()
