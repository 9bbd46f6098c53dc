"""Speed of the bit-exact q7 simulator on the seed's M4 network (CIFAR-size images).

Quantizes ARM's trained M4 net (../shared/data/arm-cmsisnn-cifar10) with fixed formats
(ARM's own, seed-workflow.md 1.6) and times whole-network simulation of CIFAR-10-JPEG
test images in batches of 1,000. Goal: >= 1,000 images/s (2,000 desired).

    .venv/bin/python benchmarks/q7_simulator.py [--images 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from nn2mcu.datasets import load_dataset
from nn2mcu.frontends.caffe import InputShapeSources, load_net
from nn2mcu.q7.model import LayerFormats
from nn2mcu.quant.q7.build import build_model
from nn2mcu.simulate import simulate

REPO = Path(__file__).resolve().parent.parent
ARM = REPO.parent / "shared" / "data" / "arm-cmsisnn-cifar10"
CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg"
# ARM's m4 formats: (weights, bias, output) fractional bits; input Q7.0
ARM_M4 = {"conv1": (8, 8, -3), "conv2": (9, 6, -2), "conv3": (9, 7, -1), "ip1": (11, 5, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    graph = load_net(
        ARM / "cifar10_m4_train_test.prototxt",
        weights=ARM / "cifar10_m4_iter_70000.caffemodel.h5",
        sources=InputShapeSources(explicit=(3, 32, 32)),
    )
    data = load_dataset(str(CIFAR))
    mean = np.floor(data.train.images.mean(axis=0) + 0.5).astype(np.int64)
    formats = {name: LayerFormats(*f) for name, f in ARM_M4.items()}
    model = build_model(graph, 0, 0, mean, formats)
    pixels = data.test.images[: args.images]
    rates = []
    for _ in range(args.runs):
        started = time.perf_counter()
        for start in range(0, len(pixels), 1000):
            simulate(model, pixels[start : start + 1000])
        rates.append(len(pixels) / (time.perf_counter() - started))
    print(
        f"q7 simulator, seed M4 network (6,558,720 MACs/image), {len(pixels)} images per run, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| run | images/s |")
    print("|---|---|")
    for index, rate in enumerate(rates, 1):
        print(f"| {index} | {rate:,.0f} |")
    print(f"| median | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()
