"""``nn2mcu train``: Caffe solver files trained with PyTorch, chained as ``caffe train
--snapshot`` chains them (weights, momentum history and iteration counter carry
over; each solver starts its data cursor afresh, as a new Caffe process does)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nn2mcu.datasets import Dataset, is_spec, load_dataset
from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import CaffeNet, InputShapeSources, attach_weights, build_net, caffe_pb2
from nn2mcu.frontends.caffe.files import read_mean_file
from nn2mcu.frontends.caffe.loader import solver_net
from nn2mcu.frontends.caffe.paths import candidates
from nn2mcu.frontends.caffe.snapshot import read_solverstate, write_snapshot
from nn2mcu.frontends.caffe.solver import read_solver
from nn2mcu.ir import Graph
from nn2mcu.torch_net import TorchNet
from nn2mcu.train.feeder import Feeder
from nn2mcu.train.trainer import TestResult, Trainer, TrainingInterrupted, share_parameters
from nn2mcu.trainspec import DataLayer, ParamSpec

DEFAULT_SEED = 0  # used when a solver sets no random_seed, so runs repeat


@dataclass(frozen=True)
class TrainOptions:
    data: str | None = None
    resume: Path | None = None
    shuffle: int | None = None
    snapshot_prefix: str | None = None
    progress: bool = True


@dataclass
class TrainResult:
    graph: Graph  # the TRAIN-phase graph with the trained weights
    iteration: int
    tests: list[TestResult] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    images: int = 0

    @property
    def final_test(self) -> dict[str, float]:
        return self.tests[-1].values if self.tests else {}


@dataclass
class _Carry:
    graph: Graph
    history: list[torch.Tensor]
    iteration: int
    current_step: int


class _Datasets:
    def __init__(self) -> None:
        self.loaded: dict[str, Dataset] = {}

    def get(self, spec: str) -> Dataset:
        if spec not in self.loaded:
            self.loaded[spec] = load_dataset(spec)
        return self.loaded[spec]


def _data_spec(layer: DataLayer, net: CaffeNet, options: TrainOptions) -> str:
    if options.data:
        return options.data
    if is_spec(layer.source):
        return layer.source
    raise InputError(
        f"{net.path}: layer '{layer.name}' ({layer.phase}) reads '{layer.source}', a database "
        "nn2mcu does not read (LMDB/LevelDB); name the data set with --data SPEC"
    )


def _only_data_layer(net: CaffeNet) -> DataLayer:
    if len(net.data_layers) != 1:
        raise InputError(
            f"{net.path}: the {net.phase} net needs exactly one Data layer, it has "
            f"{len(net.data_layers)}"
        )
    return net.data_layers[0]


def _check_trainable(net: CaffeNet) -> None:
    for layer in net.graph.layers:
        if layer.op.folded_into_producer:
            raise InputError(
                f"{net.path}: layer '{layer.name}' ({layer.op.type_name}): nn2mcu does not train "
                "BatchNorm or Scale layers; they are folded into the layer before them when "
                "trained weights are imported (nn2mcu inspect/quantize --weights)"
            )


def _feeder(
    net: CaffeNet, layer: DataLayer, dataset: Dataset, spec: str, seed: int, shuffle: int | None
) -> Feeder:
    if layer.name in net.missing_means:
        name = net.missing_means[layer.name]
        raise InputError(
            f"{net.path}: layer '{layer.name}': mean_file '{name}' does not exist; compute it "
            f"with: nn2mcu mean --data {spec} -o {name}"
        )
    split = dataset.split(layer.phase)
    c, h, w = split.image_shape
    crop = layer.transform.crop
    expected = (c, crop, crop) if crop else (c, h, w)
    if layer.name != net.graph.input_name:
        raise InputError(f"{net.path}: layer '{layer.name}' is not the input")
    shape = net.graph.shapes[layer.name]
    if (shape.c, shape.h, shape.w) != expected:
        raise InputError(
            f"{net.path}: layer '{layer.name}' has input shape {shape.c},{shape.h},{shape.w} "
            f"(C,H,W) but data set '{spec}' gives {expected[0]},{expected[1]},{expected[2]}"
        )
    mean_file = layer.transform.mean_file
    mean = read_mean_file(Path(mean_file)) if mean_file else None
    return Feeder(
        split,
        layer.batch_size,
        layer.transform,
        phase=layer.phase,
        mean=mean,
        shuffle_seed=shuffle if layer.phase == "TRAIN" else None,
        seed=seed,
    )


def _specs(net: TorchNet, caffe_net: CaffeNet) -> list[ParamSpec]:
    specs = []
    for layer, name, _ in net.learnable():
        per_blob = caffe_net.param_specs.get(layer, ())
        index = 1 if name == "bias" else 0
        specs.append(per_blob[index] if index < len(per_blob) else ParamSpec())
    return specs


def output_prefix(name: str, solver_path: Path) -> Path:
    """Where snapshots go: the prefix as given (from the working directory) when its folder
    exists, else relative to the solver file's folder or one of its parents; failing all,
    as given (its folder is made at the first snapshot)."""
    found = candidates(name, solver_path)
    for candidate in found:
        if candidate.parent.is_dir():
            return candidate
    return found[0]


def _build(
    param: caffe_pb2.SolverParameter, solver_path: Path, phase: str, sources: InputShapeSources
) -> CaffeNet:
    net_param, net_path = solver_net(param, solver_path, phase)
    return build_net(net_param, net_path, phase=phase, sources=sources)


def _train_one(
    solver_path: Path,
    options: TrainOptions,
    datasets: _Datasets,
    carry: _Carry | None,
    resume: Path | None,
    log: Callable[[str], None],
) -> tuple[_Carry, TrainResult]:
    param, config = read_solver(solver_path)
    sources = InputShapeSources(
        data_shape=datasets.get(options.data).image_shape if options.data else None,
        data_spec=options.data,
    )
    train_net = _build(param, solver_path, "TRAIN", sources)
    _check_trainable(train_net)
    train_layer = _only_data_layer(train_net)
    train_spec = _data_spec(train_layer, train_net, options)
    seed = config.random_seed if config.random_seed >= 0 else DEFAULT_SEED
    torch.manual_seed(seed)
    train_feed = _feeder(
        train_net, train_layer, datasets.get(train_spec), train_spec, seed, options.shuffle
    )
    net = TorchNet(train_net.graph)

    test_net = test_torch = test_feed = None
    if config.test_interval > 0 and config.test_iter > 0:
        test_net = _build(param, solver_path, "TEST", sources)
        test_layer = _only_data_layer(test_net)
        test_spec = _data_spec(test_layer, test_net, options)
        test_feed = _feeder(test_net, test_layer, datasets.get(test_spec), test_spec, seed, None)
        test_torch = TorchNet(test_net.graph)
        share_parameters(net, test_torch)

    prefix = output_prefix(
        options.snapshot_prefix or config.snapshot_prefix or solver_path.name.split(".")[0],
        solver_path,
    )

    def snapshot(trainer: Trainer) -> list[Path]:
        paths = write_snapshot(
            trainer.net.to_graph(),
            prefix,
            trainer.iteration,
            hdf5=config.snapshot_format == "HDF5",
            history=[h.detach().numpy().copy() for h in trainer.updater.history],
            current_step=trainer.current_step,
            extra=trainer.state(),
        )
        log(f"iteration {trainer.iteration}: snapshot {paths[0]}, {paths[1]}")
        return paths

    trainer = Trainer(
        config,
        net,
        _specs(net, train_net),
        train_net.heads,
        train_feed,
        test_net=test_torch,
        test_heads=test_net.heads if test_net else (),
        test_feed=test_feed,
        snapshot=snapshot,
        progress=options.progress,
        log=log,
    )
    if carry is not None:
        net.load_graph_weights(_same_parameters(carry.graph, train_net))
        trainer.load_history(carry.history)
        trainer.iteration, trainer.current_step = carry.iteration, carry.current_step
    elif resume is not None:
        state = read_solverstate(resume)
        weights = attach_weights(train_net.graph, state.learned_net, train_net.transposed)
        net.load_graph_weights(weights)
        trainer.load_history([torch.from_numpy(h) for h in state.history])
        trainer.iteration, trainer.current_step = state.iteration, state.current_step
        if state.extra is not None:
            trainer.restore(state.extra)
        log(f"resuming from {resume} at iteration {state.iteration}")
    else:
        trainer.initialize(seed)
    start_iteration, started = trainer.iteration, time.perf_counter()
    trainer.solve()
    seconds = time.perf_counter() - started
    images = (trainer.iteration - start_iteration) * train_feed.batch_size * config.iter_size
    graph = net.to_graph()
    result = TrainResult(
        graph, trainer.iteration, trainer.tests, trainer.snapshots, seconds, images
    )
    history = [h.detach().clone() for h in trainer.updater.history]
    return _Carry(graph, history, trainer.iteration, trainer.current_step), result


def _same_parameters(previous: Graph, net: CaffeNet) -> Graph:
    """The previous solver's weights, checked against this solver's net."""
    layers = []
    for layer in net.graph.layers:
        shapes = layer.op.weight_shapes(net.graph.input_shapes(layer))
        if not shapes:
            layers.append(layer)
            continue
        try:
            old = previous.layer(layer.name)
        except KeyError:
            raise InputError(
                f"{net.path}: layer '{layer.name}' is not in the previous solver's net"
            ) from None
        for key, shape in shapes.items():
            if key not in old.weights or old.weights[key].shape != shape:
                got = list(old.weights[key].shape) if key in old.weights else "none"
                raise InputError(
                    f"{net.path}: layer '{layer.name}' {key} is {list(shape)} here but {got} "
                    "in the previous solver's net"
                )
        layers.append(type(layer)(layer.name, layer.op, layer.inputs, old.weights))
    return Graph(net.graph.name, tuple(layers), net.graph.outputs)


def train_solvers(
    solvers: Sequence[Path], options: TrainOptions, log: Callable[[str], None] = print
) -> TrainResult:
    """Train with each solver in turn; ``options.resume`` applies to the first."""
    if not solvers:
        raise InputError("give at least one solver file")
    datasets = _Datasets()
    carry: _Carry | None = None
    total_seconds, total_images = 0.0, 0
    for index, path in enumerate(solvers):
        try:
            carry, result = _train_one(
                path, options, datasets, carry, options.resume if index == 0 else None, log
            )
        except TrainingInterrupted as interrupted:
            interrupted.solver = index
            raise
        total_seconds += result.seconds
        total_images += result.images
    result.seconds, result.images = total_seconds, total_images
    return result
