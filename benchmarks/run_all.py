"""The table nn2mcu tracks, in one run.

For the Fashion-MNIST example, the CIFAR seed network (examples/cifar10_m4_small), ARM's
trained M7 network and the PyTorch example (examples/pytorch_fashion_mnist, ONNX): test
accuracy of the float model, of nn2mcu's q7 model with formats chosen by the simulator's
accuracy (search) and by ARM's nn_quantizer.py method (arm), of nn2mcu's s8 model
(per-channel int8), and of PyTorch's FX int8 post-training quantization of the same
float model (x86 backend, calibrated on the same 2,000 images); quantize time;
instructions per inference of the generated C on an emulated Cortex-M4 (portable
kernels, 20 images; q7 and s8) against the floor MACs/2; flash (weights, biases, mean)
and RAM (the arena) against the official CMSIS-NN CIFAR-10 example (38,780 bytes of
weights, 44,160 of buffers). For the seed network also real CMSIS-NN (q7 with
CMSIS_5_ROOT, s8 with CMSIS_NN_ROOT) against TensorFlow Lite Micro with CMSIS-NN
(anchors.md). Then the simulator's speed and training speed against plain PyTorch.

The examples' trained weights come from `scripts/demo`-style training (the PyTorch one
from its train.py); missing ones are trained here first (about 2.5 minutes each).

    .venv/bin/python benchmarks/run_all.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nn2mcu.codegen.lower import flash_bytes, lower
from nn2mcu.datasets import Dataset, load_dataset
from nn2mcu.frontends.caffe import InputShapeSources
from nn2mcu.frontends.load import is_onnx, load_network
from nn2mcu.ir import Graph
from nn2mcu.mean import image_mean, write_mean_file
from nn2mcu.passes import use_mean_file
from nn2mcu.quant.calibrate import FloatView
from nn2mcu.quant.q7.quantize import QuantizeOptions, quantize_q7
from nn2mcu.quant.s8.quantize import quantize_s8
from nn2mcu.simulate import simulate
from nn2mcu.torch_net import TorchNet
from nn2mcu.train.session import TrainOptions, train_solvers

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CIFAR = str(SHARED / "data" / "cifar10-jpeg")
ARM = SHARED / "data" / "arm-cmsisnn-cifar10"
PYTORCH = REPO / "examples" / "pytorch_fashion_mnist"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cortex_m  # noqa: E402  (the sibling benchmarks' runners)
import train_speed  # noqa: E402

EXAMPLE_FLASH, EXAMPLE_RAM = 38_780, 44_160
TFLM_INSTRUCTIONS, TFLM_ARENA = 15_636_772, 43_108  # ../shared/reference/anchors.md


@dataclass(frozen=True)
class Network:
    title: str
    net: Path
    weights: Path
    data: str
    solvers: tuple[Path, ...] = ()
    shuffle: int | None = None
    mean: Path | None = None


NETWORKS = (
    Network(
        "Fashion-MNIST example",
        REPO / "examples/fashion_mnist/fashion_mnist_train_test.prototxt",
        REPO / "examples/fashion_mnist/fashion_small_iter_5000.caffemodel.h5",
        "fashion-mnist",
        (REPO / "examples/fashion_mnist/fashion_mnist_solver.prototxt",
         REPO / "examples/fashion_mnist/fashion_mnist_solver_lr1.prototxt"),
        mean=REPO / "examples/fashion_mnist/mean.binaryproto",
    ),
    Network(
        "CIFAR seed network",
        REPO / "examples/cifar10_m4_small/cifar10_m4_small_train_test.prototxt",
        REPO / "examples/cifar10_m4_small/cifar10_small_iter_5000.caffemodel.h5",
        CIFAR,
        (REPO / "examples/cifar10_m4_small/cifar10_small_solver.prototxt",
         REPO / "examples/cifar10_m4_small/cifar10_small_solver_lr1.prototxt"),
        shuffle=1,
        mean=REPO / "examples/cifar10_m4_small/mean.binaryproto",
    ),
    Network("ARM's M7 network", ARM / "cifar10_m7_train_test.prototxt",
            ARM / "cifar10_m7_iter_300000.caffemodel.h5", CIFAR),
    Network("PyTorch example (ONNX)", PYTORCH / "model.onnx", PYTORCH / "model.onnx",
            "fashion-mnist"),
)  # fmt: skip


def prepare(network: Network, dataset: Dataset) -> None:
    """Mean file and trained weights of an example, made when missing."""
    if is_onnx(network.net):
        if not network.net.exists():
            print(f"training {network.title} first (its model is missing)", flush=True)
            subprocess.run([sys.executable, str(PYTORCH / "train.py")], check=True)
        return
    if network.mean is not None and not network.mean.exists():
        write_mean_file(image_mean(dataset), network.mean)
    if not network.weights.exists():
        print(f"training {network.title} first (its weights are missing)", flush=True)
        train_solvers(
            list(network.solvers),
            TrainOptions(data=network.data, shuffle=network.shuffle, progress=False),
            log=lambda _: None,
        )


class Logits(torch.nn.Module):
    def __init__(self, net: TorchNet, name: str) -> None:
        super().__init__()
        self.net, self.name = net, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, outputs=[self.name])[self.name]


def fx_int8_accuracy(
    graph: Graph, view: FloatView, calibration: np.ndarray, test: Dataset
) -> float:
    """PyTorch FX post-training static quantization (x86), calibrated on ``calibration``."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    def nchw(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(view.inputs(pixels).transpose(0, 3, 1, 2).copy())

    model = Logits(TorchNet(view.graph).eval(), graph.logits).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (nchw(calibration[:2]),))
        for start in range(0, len(calibration), 500):
            prepared(nchw(calibration[start : start + 500]))
        quantized = convert_fx(prepared)
        correct = 0
        for start in range(0, len(test.test), 1000):
            logits = quantized(nchw(test.test.images[start : start + 1000]))
            predicted = logits.reshape(logits.shape[0], -1).argmax(dim=1).numpy()
            correct += int(np.sum(predicted == test.test.labels[start : start + 1000]))
    return correct / len(test.test)


def main() -> None:
    rows = []
    seed_model, seed_pixels = None, None
    seed_counts: dict[str, int] = {}
    seed_arenas: dict[str, int] = {}
    for network in NETWORKS:
        dataset = load_dataset(network.data)
        prepare(network, dataset)
        sources = InputShapeSources(data_shape=dataset.image_shape, data_spec=network.data)
        if is_onnx(network.net):  # preprocessing from the model's metadata_props
            graph = load_network(network.net, sources=sources)
        else:
            graph = load_network(network.net, weights=network.weights, sources=sources)
        if network.mean is None and not is_onnx(network.net):  # ARM's net: a path at ARM
            mean = Path(tempfile.mkdtemp()) / "mean.binaryproto"
            write_mean_file(image_mean(dataset), mean)
            graph = use_mean_file(graph, mean)
        timings, results = {}, {}
        for method in ("search", "arm"):
            started = time.perf_counter()
            results[method] = quantize_q7(graph, dataset, QuantizeOptions(method=method))
            timings[method] = time.perf_counter() - started
        started = time.perf_counter()
        s8 = quantize_s8(graph, dataset)
        timings["s8"] = time.perf_counter() - started
        search = results["search"]
        fx = fx_int8_accuracy(graph, search.view, search.calibration.pixels, dataset)
        program, s8_program = lower(search.model), lower(s8.model)
        shapes, inputs = search.model.graph.shapes, search.model.graph.input_shapes
        macs = sum(c.layer.op.macs(inputs(c.layer), shapes[c.layer.name]) for c in program.calls)
        pixels = dataset.test.images[:20]
        counts = {
            "q7": cortex_m.measure(program, "portable", None, "cortex-m4", pixels),
            "s8": cortex_m.measure(s8_program, "portable", None, "cortex-m4", pixels),
        }
        if network.title == "CIFAR seed network":
            seed_arenas = {"q7": program.arena_size, "s8": s8_program.arena_size}
            for scheme, variable, chosen in (("q7", "CMSIS_5_ROOT", program),
                                             ("s8", "CMSIS_NN_ROOT", s8_program)):  # fmt: skip
                root = os.environ.get(variable)
                if root:
                    # CMSIS-NN's plan: no overlays, CMSIS-NN's scratch sizes
                    stock = lower(chosen.model, "cmsis")
                    counts[f"{scheme} CMSIS-NN"] = cortex_m.measure(
                        stock, "cmsis", Path(root), "cortex-m4", pixels
                    )
                    seed_arenas[f"{scheme} CMSIS-NN"] = stock.arena_size
            seed_model, seed_pixels = search.model, dataset.test.images[:2000]
            seed_counts = {key: int(np.median(value[:, 0])) for key, value in counts.items()}
        rows.append(
            (network.title, search.report["float_accuracy"], search.report["q7_accuracy"],
             results["arm"].report["q7_accuracy"], s8.report["s8_accuracy"], fx,
             timings["search"], timings["arm"], timings["s8"],
             int(np.median(counts["q7"][:, 0])), int(np.median(counts["s8"][:, 0])), macs // 2,
             flash_bytes(program), flash_bytes(s8_program), program.arena_size,
             s8_program.arena_size)
        )  # fmt: skip
        print(f"done: {network.title}", flush=True)

    rates = []
    assert seed_model is not None and seed_pixels is not None
    for _ in range(3):
        started = time.perf_counter()
        for start in range(0, len(seed_pixels), 1000):
            simulate(seed_model, seed_pixels[start : start + 1000])
        rates.append(len(seed_pixels) / (time.perf_counter() - started))
    ours, plain = training_speed()

    print()
    print(f"nn2mcu benchmarks: torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "| network | float | q7 search | q7 arm | s8 | PyTorch FX int8 "
        "| quantize s (search / arm / s8) | instructions / inference, M4 portable (q7 / s8) "
        "| MACs/2 | flash B (q7 / s8) | RAM B (q7 / s8) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        title, flt, q7s, q7a, s8a, fx, ts, ta, t8, q7c, s8c, floor, f7, f8, r7, r8 = row
        print(
            f"| {title} | {flt:.4f} | {q7s:.4f} | {q7a:.4f} | {s8a:.4f} | {fx:.4f} "
            f"| {ts:.0f} / {ta:.0f} / {t8:.0f} | {q7c:,} / {s8c:,} | {floor:,} "
            f"| {f7:,} / {f8:,} | {r7:,} / {r8:,} |"
        )
    print(
        f"| official CMSIS-NN CIFAR-10 example (for scale) | | | | | | | 14,489,707 (q7) | "
        f"| {EXAMPLE_FLASH:,} | {EXAMPLE_RAM:,} |"
    )
    print()
    print("CIFAR seed network on the emulated Cortex-M4 (median of 20 images, nn_run):")
    print("| code | instructions / inference | vs TFLM | arena B |")
    print("|---|---|---|---|")
    print(f"| TFLM + CMSIS-NN (anchors.md) | {TFLM_INSTRUCTIONS:,} | 1.00 | {TFLM_ARENA:,} |")
    for key, count in seed_counts.items():
        kernels = key if "CMSIS" in key else f"{key} portable"
        arena = seed_arenas[key]
        print(f"| nn2mcu {kernels} | {count:,} | {count / TFLM_INSTRUCTIONS:.2f} | {arena:,} |")
    for variable in ("CMSIS_5_ROOT", "CMSIS_NN_ROOT"):
        if not os.environ.get(variable):
            print(f"(set {variable} for the real CMSIS-NN row of its scheme)")
    print()
    simulator = statistics.median(rates)
    print(f"q7 simulator, CIFAR seed network: {simulator:,.0f} images/s (median of 3)")
    print(
        f"training, Fashion-MNIST example: nn2mcu {ours:,.0f} images/s, plain PyTorch "
        f"{plain:,.0f} images/s (ratio {ours / plain:.2f}; medians of 3 runs of 200 iterations)"
    )


def training_speed() -> tuple[float, float]:
    """Medians of nn2mcu train and a plain PyTorch loop (contiguous NCHW), 200 iterations."""
    data = load_dataset("fashion-mnist")
    mean = image_mean(data)
    images = data.train.images.astype(np.float32).transpose(0, 3, 1, 2) - mean
    batch, iterations = train_speed.BATCH, 200
    batches = [
        (torch.from_numpy(images[i * batch : (i + 1) * batch].copy()),
         torch.from_numpy(data.train.labels[i * batch : (i + 1) * batch]))
        for i in range(iterations)
    ]  # fmt: skip
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        write_mean_file(mean, root / "mean.binaryproto")
        net = root / "net.prototxt"
        net.write_text(
            (train_speed.EXAMPLE / "fashion_mnist_train_test.prototxt")
            .read_text()
            .replace("examples/fashion_mnist/mean.binaryproto", str(root / "mean.binaryproto"))
        )
        solver = root / "solver.prototxt"
        solver.write_text(
            f'net: "{net}"\nbase_lr: 0.001\nmomentum: 0.9\nweight_decay: 0.004\n'
            f'lr_policy: "fixed"\nmax_iter: {iterations}\nsnapshot_after_train: false\n'
            f'snapshot_prefix: "{root / "snap"}"\n'
        )
        for _ in range(3):
            ours.append(train_speed.nn2mcu_run(solver))
            plain.append(train_speed.plain_run(batches, iterations, channels_last=False))
    return statistics.median(ours), statistics.median(plain)


if __name__ == "__main__":
    main()
