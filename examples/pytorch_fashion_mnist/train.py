"""A small CNN defined and trained in plain PyTorch on Fashion-MNIST, exported to ONNX for
nn2mcu (which then quantizes, generates, builds and verifies it; see README.md).

    .venv/bin/python examples/pytorch_fashion_mnist/train.py [--epochs 3] [-o model.onnx]

Inputs are x = p / 255 for pixels p in 0..255; the exported model says so in its
metadata_props (nn2mcu.mean = 0, nn2mcu.scale = 1/255), so nn2mcu needs no flags for it.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from nn2mcu.datasets import load_dataset

HERE = Path(__file__).resolve().parent
SCALE = 1 / 255


class FashionNet(nn.Module):
    """conv-BN-ReLU-maxpool, depthwise-BN-ReLU, 1x1-ReLU-maxpool, conv-ReLU-avgpool, linear:
    28 -> 14 -> 7 -> 3, about 1.2 M MACs and 15 k parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.bn2 = nn.BatchNorm2d(16)
        self.pointwise = nn.Conv2d(16, 32, 1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.classifier = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.relu(self.bn2(self.depthwise(x)))
        x = nn.functional.max_pool2d(torch.relu(self.pointwise(x)), 2)
        x = nn.functional.avg_pool2d(torch.relu(self.conv3(x)), 2)
        return self.classifier(torch.flatten(x, 1))


def tensors(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32).transpose(0, 3, 1, 2) * SCALE)


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(tensors(images[i : i + 1000])).argmax(1)
                               for i in range(0, len(images), 1000)])  # fmt: skip
    return float((predicted.numpy() == labels).mean())


def train(epochs: int, seed: int = 0, limit: int | None = None) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    data = load_dataset("fashion-mnist")
    images, labels = data.train.images[:limit], data.train.labels[:limit]
    model = FashionNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=4e-3, total_steps=epochs * ((len(images) + 127) // 128)
    )
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(images))
        started, total = time.perf_counter(), 0.0
        for start in range(0, len(order), 128):
            batch = order[start : start + 128]
            loss = nn.functional.cross_entropy(
                model(tensors(images[batch])), torch.from_numpy(labels[batch])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss) * len(batch)
        test = accuracy(model, data.test.images, data.test.labels)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}, test accuracy "
              f"{test:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    return model.eval(), accuracy(model, data.test.images, data.test.labels)


def export(model: nn.Module, path: Path) -> None:
    """torch.onnx.export (the default exporter), plus nn2mcu's preprocessing metadata."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 1, 28, 28),), str(path))
    exported = onnx.load(str(path))
    onnx.helper.set_model_props(exported, {"nn2mcu.mean": "0", "nn2mcu.scale": repr(SCALE)})
    onnx.save(exported, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, help="train on the first N images only")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "model.onnx")
    args = parser.parse_args()
    model, test = train(args.epochs, limit=args.limit)
    export(model, args.output)
    print(f"float test accuracy {test:.4f}; wrote {args.output}")


if __name__ == "__main__":
    main()
