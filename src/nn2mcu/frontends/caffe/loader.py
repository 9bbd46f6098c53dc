"""Build an IR graph from a Caffe network definition (and optionally its weights)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nn2mcu.datasets import image_shape, is_spec
from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.blobs import caffe_shapes, fit_blobs, to_ir
from nn2mcu.frontends.caffe.converters import CONVERTERS, LayerContext
from nn2mcu.frontends.caffe.files import read_mean_file, read_net_or_solver
from nn2mcu.frontends.caffe.netstate import NetState, filter_layers
from nn2mcu.frontends.caffe.paths import describe_tried, resolve
from nn2mcu.frontends.caffe.solver import param_specs
from nn2mcu.frontends.caffe.weights import read_weights
from nn2mcu.ir import Graph, Layer, Op, Shape, ShapeError
from nn2mcu.ops import Input, Preprocessing
from nn2mcu.passes import fold_batchnorm
from nn2mcu.trainspec import DataLayer, Head, ParamSpec, Transform

DATA_TYPES = ("Data", "HDF5Data", "Input", "MemoryData")
HEAD_TYPES = ("SoftmaxWithLoss", "Accuracy")
ALIAS_TYPES = ("Split",)


def supported_types() -> list[str]:
    return sorted({*CONVERTERS, *DATA_TYPES, *HEAD_TYPES, *ALIAS_TYPES})


@dataclasses.dataclass(frozen=True)
class InputShapeSources:
    """Where a shapeless data layer may take its C x H x W from, in order."""

    explicit: tuple[int, int, int] | None = None  # --input-shape C,H,W
    data_shape: tuple[int, int, int] | None = None  # from --data
    data_spec: str | None = None


_LABEL = "\0label"  # marks blobs that carry labels, not activations


@dataclasses.dataclass(frozen=True)
class CaffeNet:
    """A Caffe net of one phase: its graph and what training needs besides."""

    graph: Graph
    path: Path
    phase: str
    transposed: dict[str, bool]
    heads: tuple[Head, ...]
    data_layers: tuple[DataLayer, ...]
    param_specs: dict[str, tuple[ParamSpec, ...]]
    missing_means: dict[str, str]  # data layer -> mean_file as written, when not found


def _chw_to_shape(dims: tuple[int, ...], where: str) -> Shape:
    if any(d < 1 for d in dims):
        raise InputError(f"{where}: input dimensions {list(dims)} must be positive")
    if len(dims) == 4:
        return Shape(dims[2], dims[3], dims[1])
    if len(dims) == 2:
        return Shape.vector(dims[1])
    raise InputError(f"{where}: input shape {list(dims)} is not N x C x H x W or N x K")


class _Builder:
    def __init__(self, path: Path, sources: InputShapeSources, phase: str) -> None:
        self.path = path
        self.sources = sources
        self.phase = phase
        self.heads: list[Head] = []
        self.data_layers: list[DataLayer] = []
        self.param_specs: dict[str, tuple[ParamSpec, ...]] = {}
        self.missing_means: dict[str, str] = {}
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {}
        self.blobs: dict[str, str] = {}
        self.outputs: list[str] = []
        self.transposed: dict[str, bool] = {}
        self.producers: dict[str, str] = {}  # Caffe blob -> the layer (or input) writing it

    def check_tops(self, layer: caffe_pb2.LayerParameter) -> None:
        """Caffe's rule: one producer per blob, except a layer working in place (its i-th
        top is its i-th bottom)."""
        for index, top in enumerate(layer.top):
            in_place = index < len(layer.bottom) and layer.bottom[index] == top
            if top in self.producers and not in_place:
                raise self.error(
                    layer,
                    f"top '{top}' is already produced by '{self.producers[top]}'; Caffe "
                    "allows one producer per blob, except a layer in place (top i = bottom i)",
                )
            self.producers.setdefault(top, layer.name)

    def error(self, layer: caffe_pb2.LayerParameter, message: str) -> InputError:
        return InputError(f"{self.path}: layer '{layer.name}' ({layer.type}): {message}")

    def add(self, name: str, op: Op, inputs: tuple[str, ...], tops: list[str]) -> None:
        layer = Layer(name=name, op=op, inputs=inputs)
        if name in self.shapes:
            raise InputError(f"{self.path}: layer name '{name}' is used twice")
        try:
            self.shapes[name] = layer.op.output_shape([self.shapes[i] for i in inputs])
        except ShapeError as error:
            raise InputError(
                f"{self.path}: layer '{name}' ({layer.op.type_name}): {error}"
            ) from None
        self.layers.append(layer)
        for top in tops:
            self.blobs[top] = name

    def bottoms(self, layer: caffe_pb2.LayerParameter) -> tuple[str, ...]:
        names = []
        for bottom in layer.bottom:
            if bottom not in self.blobs:
                raise self.error(layer, f"bottom '{bottom}' is not produced by an earlier layer")
            if self.blobs[bottom] == _LABEL:
                raise self.error(
                    layer, f"reads the label blob '{bottom}'; only loss and accuracy layers may"
                )
            names.append(self.blobs[bottom])
        return tuple(names)

    # -- data layers --------------------------------------------------------------

    def net_inputs(self, net: caffe_pb2.NetParameter) -> None:
        if len(net.input_shape) and len(net.input_dim):
            raise InputError(f"{self.path}: give input_shape or input_dim, not both")
        for index, name in enumerate(net.input):
            where = f"{self.path}: input '{name}'"
            if len(net.input_shape):
                if len(net.input_shape) != len(net.input):
                    raise InputError(f"{where}: one input_shape per input is required")
                dims = tuple(int(d) for d in net.input_shape[index].dim)
            else:
                dims = tuple(int(d) for d in net.input_dim[4 * index : 4 * index + 4])
                if len(dims) != 4:
                    raise InputError(f"{where}: four input_dim values per input are required")
            shape = self._checked_explicit(where, _chw_to_shape(dims, where))
            if name in self.producers:
                raise InputError(f"{where}: the net has two inputs of this name")
            self.producers[name] = f"input {name}"
            self.add(name, Input(shape=shape), (), [name])

    def _checked_explicit(self, where: str, shape: Shape) -> Shape:
        explicit = self.sources.explicit
        if explicit is not None and Shape(explicit[1], explicit[2], explicit[0]) != shape:
            given = ",".join(str(v) for v in explicit)
            raise InputError(
                f"{where} has shape {shape.c},{shape.h},{shape.w} (C,H,W); "
                f"--input-shape {given} contradicts it"
            )
        return shape

    def data_layer(self, layer: caffe_pb2.LayerParameter) -> None:
        if not len(layer.top):
            raise self.error(layer, "has no top")
        transform = layer.transform_param
        data_param = layer.data_param
        mean_name = transform.mean_file or data_param.mean_file or None
        mean_values = tuple(float(v) for v in transform.mean_value)
        if mean_name and mean_values:
            raise self.error(layer, "give mean_file or mean_value, not both")
        scale = float(transform.scale) if transform.HasField("scale") else float(data_param.scale)
        crop = int(transform.crop_size or data_param.crop_size)
        mean_path, tried = resolve(mean_name, self.path) if mean_name else (None, [])
        shape = self._data_shape(layer, mean_name, mean_path, tried, crop)
        if mean_values and len(mean_values) not in (1, shape.c):
            raise self.error(layer, f"{len(mean_values)} mean_value entries for {shape.c} channels")
        preprocessing = Preprocessing(
            mean_file=str(mean_path.resolve()) if mean_path else mean_name,
            mean_values=mean_values,
            scale=scale,
        )
        if mean_name and mean_path is None:
            self.missing_means[layer.name] = mean_name
        if layer.type in ("Data", "HDF5Data"):
            param = layer.data_param if layer.type == "Data" else layer.hdf5_data_param
            self.data_layers.append(
                DataLayer(
                    name=layer.name,
                    phase=self.phase,
                    source=param.source,
                    batch_size=int(param.batch_size),
                    transform=Transform(
                        mean_file=str(mean_path.resolve()) if mean_path else None,
                        mean_values=mean_values,
                        scale=scale,
                        crop=crop,
                        mirror=bool(transform.mirror or data_param.mirror),
                    ),
                )
            )
        self.add(layer.name, Input(shape=shape, preprocessing=preprocessing), (), [layer.top[0]])
        for top in layer.top[1:]:
            self.blobs[top] = _LABEL

    def _data_shape(
        self,
        layer: caffe_pb2.LayerParameter,
        mean_name: str | None,
        mean_path: Path | None,
        tried: list[Path],
        crop: int,
    ) -> Shape:
        where = f"{self.path}: layer '{layer.name}' ({layer.type})"
        if layer.type == "Input" and len(layer.input_param.shape):
            shapes = layer.input_param.shape
            if len(shapes) not in (1, len(layer.top)):
                raise self.error(layer, "give one input_param shape, or one per top")
            dims = tuple(int(d) for d in shapes[0].dim)
            return self._checked_explicit(where, _chw_to_shape(dims, where))
        if layer.type == "MemoryData":
            param = layer.memory_data_param
            dims = (1, int(param.channels), int(param.height), int(param.width))
            return self._checked_explicit(where, _chw_to_shape(dims, where))
        explicit = self.sources.explicit
        mean_shape = None
        if mean_path is not None:
            c, h, w = read_mean_file(mean_path).shape
            mean_shape = Shape(crop, crop, c) if crop else Shape(h, w, c)
        if explicit is not None:
            shape = Shape(explicit[1], explicit[2], explicit[0])
            if mean_shape is not None and mean_shape != shape:
                raise InputError(
                    f"{where}: --input-shape {','.join(map(str, explicit))} differs from its "
                    f"mean_file {mean_path} ({mean_shape.c},{mean_shape.h},{mean_shape.w})"
                )
            return shape
        if mean_shape is not None:
            return mean_shape
        data_shape = self.sources.data_shape
        source = layer.data_param.source if layer.type == "Data" else ""
        if data_shape is None and source and is_spec(source):
            data_shape = image_shape(source)
        if data_shape is not None:
            c, h, w = data_shape
            return Shape(crop, crop, c) if crop else Shape(h, w, c)
        mean_note = (
            f"a mean_file that exists (its mean_file '{mean_name}' was not found in "
            f"{describe_tried(tried)})"
            if mean_name
            else "a mean_file in its transform_param"
        )
        if source:
            raise InputError(
                f"{where} carries no input shape and reads '{source}', a database nn2mcu does "
                f"not read (LMDB/LevelDB): name the data set with --data SPEC, give "
                f"--input-shape C,H,W, or {mean_note}"
            )
        raise InputError(
            f"{where} carries no input shape: give --input-shape C,H,W, {mean_note}, "
            "or a data set with --data"
        )

    # -- the rest -------------------------------------------------------------------

    def layer(self, layer: caffe_pb2.LayerParameter) -> None:
        kind = layer.type
        if kind in DATA_TYPES:
            self.data_layer(layer)
        elif kind in ALIAS_TYPES:
            if len(layer.bottom) != 1 or layer.bottom[0] not in self.blobs:
                raise self.error(layer, "needs one bottom produced by an earlier layer")
            for top in layer.top:
                self.blobs[top] = self.blobs[layer.bottom[0]]
        elif kind in HEAD_TYPES:
            if not len(layer.bottom) or layer.bottom[0] not in self.blobs:
                raise self.error(layer, "its first bottom is not produced by an earlier layer")
            source = self.blobs[layer.bottom[0]]
            self.outputs.append(source)
            ignore = (
                layer.loss_param.ignore_label if layer.loss_param.HasField("ignore_label") else None
            )
            if kind == "Accuracy" and layer.accuracy_param.HasField("ignore_label"):
                ignore = layer.accuracy_param.ignore_label
            self.heads.append(
                Head(
                    kind="loss" if kind == "SoftmaxWithLoss" else "accuracy",
                    name=layer.name,
                    input=source,
                    top_k=int(layer.accuracy_param.top_k),
                    loss_weight=float(layer.loss_weight[0]) if len(layer.loss_weight) else 1.0,
                    ignore_label=ignore,
                )
            )
        elif kind in CONVERTERS:
            inputs = self.bottoms(layer)
            if len(layer.top) != 1:
                raise self.error(layer, f"has {len(layer.top)} tops; 1 is supported")
            if not inputs:
                raise self.error(layer, "has no bottom")
            context = LayerContext(self.path, layer, [self.shapes[i] for i in inputs])
            op = CONVERTERS[kind](context)
            if len(inputs) != op.arity:
                raise self.error(layer, f"has {len(inputs)} bottoms; {op.arity} is supported")
            if kind == "InnerProduct":
                self.transposed[layer.name] = bool(layer.inner_product_param.transpose)
            specs = param_specs(layer, self.path)
            if specs:
                self.param_specs[layer.name] = tuple(specs)
            self.add(layer.name, op, inputs, [layer.top[0]])
        else:
            raise InputError(
                f"{self.path}: layer '{layer.name}' has type '{kind}', which nn2mcu does not "
                f"support; supported: {', '.join(supported_types())}"
            )


def _refuse_unsupported(layers: list[caffe_pb2.LayerParameter], path: Path) -> None:
    """Every layer of a type nn2mcu lacks, named with its type in one message, before any
    shape or data is looked at."""
    known = set(supported_types())
    unsupported = [
        f"layer '{layer.name}' has type '{layer.type}'"
        for layer in layers
        if layer.type not in known
    ]
    if not unsupported:
        return
    shown = ", ".join(unsupported[:8])
    more = f" and {len(unsupported) - 8} more" if len(unsupported) > 8 else ""
    raise InputError(
        f"{path}: {shown}{more}, which nn2mcu does not support; "
        f"supported: {', '.join(supported_types())}"
    )


def build_net(
    net: caffe_pb2.NetParameter,
    path: Path,
    *,
    phase: str = "TEST",
    sources: InputShapeSources = InputShapeSources(),
) -> CaffeNet:
    """The graph of ``net`` in ``phase`` (no weights), with its training information."""
    builder = _Builder(path, sources, phase)
    builder.net_inputs(net)
    layers = filter_layers(net, NetState(phase=phase), path)
    _refuse_unsupported(layers, path)
    for layer in layers:
        builder.check_tops(layer)
        builder.layer(layer)
    if not builder.layers:
        raise InputError(f"{path}: the net has no layers in phase {phase}")
    outputs = tuple(dict.fromkeys(builder.outputs))
    graph = Graph(name=net.name or path.stem, layers=tuple(builder.layers), outputs=outputs)
    return CaffeNet(
        graph=graph,
        path=path,
        phase=phase,
        transposed=builder.transposed,
        heads=tuple(builder.heads),
        data_layers=tuple(builder.data_layers),
        param_specs=builder.param_specs,
        missing_means=builder.missing_means,
    )


def attach_weights(
    graph: Graph, weights_path: Path, transposed: dict[str, bool] | None = None
) -> Graph:
    """``graph`` with the parameters from a .caffemodel or .caffemodel.h5, BatchNorm folded."""
    blobs_by_layer = read_weights(weights_path)
    transposed = transposed or {}
    layers = []
    for layer in graph.layers:
        transpose = transposed.get(layer.name, False)
        expected = caffe_shapes(graph, layer, transpose=transpose)
        blobs = blobs_by_layer.get(layer.name)
        if not expected:
            if blobs:
                fit_blobs(str(weights_path), layer, blobs, expected)
            layers.append(layer)
            continue
        if blobs is None:
            wanted = ", ".join(str(list(shape)) for shape in expected)
            raise InputError(
                f"{weights_path}: no weights for layer '{layer.name}' ({layer.op.type_name}), "
                f"which needs blobs of shape {wanted}"
            )
        fitted = fit_blobs(str(weights_path), layer, blobs, expected)
        weights = to_ir(graph, layer, fitted, transpose=transpose)
        layers.append(dataclasses.replace(layer, weights=weights))
    loaded = Graph(name=graph.name, layers=tuple(layers), outputs=graph.outputs)
    if any(layer.op.folded_into_producer for layer in loaded.layers):
        loaded = fold_batchnorm(loaded)
    return loaded


def solver_net(
    solver: caffe_pb2.SolverParameter, solver_path: Path, phase: str = "TEST"
) -> tuple[caffe_pb2.NetParameter, Path]:
    """The network a solver trains (TRAIN) or tests (TEST), and the file it came from."""
    if solver.HasField("net_param"):
        return solver.net_param, solver_path
    if phase == "TEST" and len(solver.test_net_param):
        return solver.test_net_param[0], solver_path
    if phase == "TRAIN" and solver.HasField("train_net_param"):
        return solver.train_net_param, solver_path
    name = solver.net
    if not name and phase == "TEST" and len(solver.test_net):
        name = solver.test_net[0]
    name = name or solver.train_net
    if not name:
        raise InputError(f"{solver_path}: the solver names no net (net, train_net or net_param)")
    found, tried = resolve(name, solver_path)
    if found is None:
        raise InputError(
            f"{solver_path}: net '{name}' not found; looked in {describe_tried(tried, 8)}"
        )
    parsed = read_net_or_solver(found)
    if not isinstance(parsed, caffe_pb2.NetParameter):
        raise InputError(f"{found}: the solver's net file is itself a solver")
    return parsed, found


def load_definition(path: Path, phase: str = "TEST") -> tuple[caffe_pb2.NetParameter, Path]:
    """A net prototxt, or the net of a solver prototxt, with the file it came from."""
    parsed = read_net_or_solver(path)
    if isinstance(parsed, caffe_pb2.SolverParameter):
        return solver_net(parsed, path, phase)
    return parsed, path


def load_net(
    path: Path,
    *,
    weights: Path | None = None,
    phase: str = "TEST",
    sources: InputShapeSources = InputShapeSources(),
) -> Graph:
    """Load a Caffe net (or a solver's net) into the IR, with weights if given."""
    net, net_path = load_definition(path, phase)
    caffe_net = build_net(net, net_path, phase=phase, sources=sources)
    if weights is not None:
        return attach_weights(caffe_net.graph, weights, caffe_net.transposed)
    return caffe_net.graph
