"""Training speed: `nn2mcu train` against a plain PyTorch loop of the same network.

Both train the Fashion-MNIST seed network (examples/fashion_mnist) with batch 100 for
the same number of iterations on the same torch thread count, from the prototxt's
fillers. The plain loop is an nn.Sequential with torch.optim.SGD on pre-batched,
mean-subtracted tensors, once in PyTorch's default contiguous NCHW layout and once in
channels-last memory (which nn2mcu uses: PyTorch's CPU convolutions are much faster on
it here); nn2mcu runs its whole trainer (Caffe's data cursor and transform, Caffe's SGD
update, loss bookkeeping). Runs alternate; the table ends with medians and ratios.

    .venv/bin/python benchmarks/train_speed.py [--iterations 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nn2mcu.datasets import load_dataset
from nn2mcu.mean import image_mean, write_mean_file
from nn2mcu.train.session import TrainOptions, train_solvers

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "fashion_mnist"
BATCH = 100


def plain_network() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5, padding=2),
        torch.nn.MaxPool2d(3, 2, ceil_mode=True),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 16, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(3, 2, ceil_mode=True),
        torch.nn.Conv2d(16, 32, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(3, 2, ceil_mode=True),
        torch.nn.Flatten(),
        torch.nn.Linear(288, 10),
    )


def plain_run(
    batches: list[tuple[torch.Tensor, torch.Tensor]], iterations: int, channels_last: bool
) -> float:
    torch.manual_seed(0)
    net = plain_network()
    # the prototxt's fillers (speed depends on values: tiny gradients can go denormal)
    with torch.no_grad():
        for index, std in ((0, 0.0001), (3, 0.01), (6, 0.01), (10, 0.01)):
            net[index].weight.normal_(0.0, std)
            net[index].bias.zero_()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=0.004)
    loss_fn = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for iteration in range(iterations):
        images, labels = batches[iteration % len(batches)]
        optimizer.zero_grad()
        loss = loss_fn(net(images), labels)
        loss.backward()
        optimizer.step()
    return iterations * BATCH / (time.perf_counter() - started)


def nn2mcu_run(solver: Path) -> float:
    result = train_solvers([solver], TrainOptions(progress=False), log=lambda _: None)
    return result.images / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    data = load_dataset("fashion-mnist")
    mean = image_mean(data)
    images = data.train.images.astype(np.float32).transpose(0, 3, 1, 2) - mean
    labels = data.train.labels
    count = min(len(images) // BATCH, args.iterations)
    batches = [
        (
            torch.from_numpy(images[i * BATCH : (i + 1) * BATCH].copy()),
            torch.from_numpy(labels[i * BATCH : (i + 1) * BATCH]),
        )
        for i in range(count)
    ]
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        write_mean_file(mean, root / "mean.binaryproto")
        net = root / "net.prototxt"
        net.write_text(
            (EXAMPLE / "fashion_mnist_train_test.prototxt")
            .read_text()
            .replace("examples/fashion_mnist/mean.binaryproto", str(root / "mean.binaryproto"))
        )
        solver = root / "solver.prototxt"
        solver.write_text(
            f'net: "{net}"\nbase_lr: 0.001\nmomentum: 0.9\nweight_decay: 0.004\n'
            f'lr_policy: "fixed"\nmax_iter: {args.iterations}\nsnapshot_after_train: false\n'
            f'snapshot_prefix: "{root / "snap"}"\n'
        )
        rows = []
        for run in range(args.runs):
            ours = nn2mcu_run(solver)
            plain = plain_run(batches, args.iterations, channels_last=False)
            plain_cl = plain_run(batches, args.iterations, channels_last=True)
            rows.append((run + 1, ours, plain, plain_cl))
    print(
        f"Training speed, Fashion-MNIST seed network, batch {BATCH}, {args.iterations} iterations "
        f"per run, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        "| run | nn2mcu train | plain PyTorch (contiguous NCHW) | ratio "
        "| plain PyTorch (channels_last) | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for run, ours, plain, plain_cl in rows:
        print(
            f"| {run} | {ours:,.0f} | {plain:,.0f} | {ours / plain:.3f} "
            f"| {plain_cl:,.0f} | {ours / plain_cl:.3f} |"
        )
    medians = [statistics.median(row[i] for row in rows) for i in (1, 2, 3)]
    print(
        f"| median | {medians[0]:,.0f} | {medians[1]:,.0f} | {medians[0] / medians[1]:.3f} "
        f"| {medians[2]:,.0f} | {medians[0] / medians[2]:.3f} |"
    )
    print("(images/s; ratio = nn2mcu / plain)")


if __name__ == "__main__":
    main()
