"""The network graph: layers in topological order, HWC activations, numpy weights."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir.op import Op, ShapeError
from nn2mcu.ir.shape import Shape

FloatArray = npt.NDArray[np.float32]


def _frozen_weights(weights: Mapping[str, npt.ArrayLike]) -> Mapping[str, FloatArray]:
    frozen: dict[str, FloatArray] = {}
    for name, value in weights.items():
        array = np.array(value, dtype=np.float32, copy=True)
        array.flags.writeable = False
        frozen[name] = array
    return MappingProxyType(frozen)


@dataclass(frozen=True)
class Layer:
    """One node: an operator applied to the outputs of earlier layers.

    A layer has exactly one output, named like the layer; ``inputs`` are the names
    of the layers whose outputs it reads. ``weights`` is empty when the graph was
    built from a definition alone, otherwise it holds every array the operator's
    ``weight_shapes`` asks for, as read-only float32 arrays in IR layout.
    """

    name: str
    op: Op
    inputs: tuple[str, ...] = ()
    weights: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a layer needs a non-empty name")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "weights", _frozen_weights(self.weights))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layer):
            return NotImplemented
        return (
            (self.name, self.op, self.inputs) == (other.name, other.op, other.inputs)
            and self.weights.keys() == other.weights.keys()
            and all(np.array_equal(self.weights[k], other.weights[k]) for k in self.weights)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.op, self.inputs))


@dataclass(frozen=True)
class Graph:
    """A network: layers in topological order and the names of its outputs.

    Building a Graph checks it: unique names, inputs that refer to earlier layers,
    each operator's shape rule, and weight shapes. ``shapes`` maps every layer name
    to its output shape.
    """

    name: str
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...] = ()
    shapes: Mapping[str, Shape] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, Layer] = field(init=False, repr=False, compare=False)
    _consumers: Mapping[str, tuple[Layer, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        shapes: dict[str, Shape] = {}
        for layer in self.layers:
            if layer.name in shapes:
                raise InputError(f"layer name '{layer.name}' is used twice")
            missing = [name for name in layer.inputs if name not in shapes]
            if missing:
                raise InputError(
                    f"layer '{layer.name}' reads '{missing[0]}', which no earlier layer produces"
                )
            inputs = [shapes[name] for name in layer.inputs]
            try:
                shapes[layer.name] = layer.op.output_shape(inputs)
            except ShapeError as error:
                raise InputError(f"layer '{layer.name}' ({layer.op.type_name}): {error}") from None
            self._check_weights(layer, inputs)
        outputs = tuple(self.outputs) or self._dangling()
        for name in outputs:
            if name not in shapes:
                raise InputError(f"graph output '{name}' is not a layer")
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "shapes", MappingProxyType(shapes))
        consumers: dict[str, list[Layer]] = {}
        for layer in self.layers:
            for name in dict.fromkeys(layer.inputs):
                consumers.setdefault(name, []).append(layer)
        object.__setattr__(self, "_by_name", {layer.name: layer for layer in self.layers})
        object.__setattr__(
            self, "_consumers", {name: tuple(found) for name, found in consumers.items()}
        )

    @staticmethod
    def _check_weights(layer: Layer, inputs: list[Shape]) -> None:
        expected = layer.op.weight_shapes(inputs)
        if not layer.weights:
            return
        if set(layer.weights) != set(expected):
            raise InputError(
                f"layer '{layer.name}' ({layer.op.type_name}) has weights "
                f"{sorted(layer.weights)}, expected {sorted(expected)}"
            )
        for key, shape in expected.items():
            got = layer.weights[key].shape
            if got != shape:
                raise InputError(
                    f"layer '{layer.name}' ({layer.op.type_name}): {key} has shape "
                    f"{list(got)}, expected {list(shape)}"
                )

    def _dangling(self) -> tuple[str, ...]:
        consumed = {name for layer in self.layers for name in layer.inputs}
        return tuple(layer.name for layer in self.layers if layer.name not in consumed)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        return self._by_name[name]

    @property
    def input_name(self) -> str:
        """The network's one input layer (an operator without inputs)."""
        names = [layer.name for layer in self.layers if layer.op.arity == 0]
        if len(names) != 1:
            raise InputError(f"the network needs one input layer, it has {len(names)}")
        return names[0]

    @property
    def logits(self) -> str:
        """The layer whose argmax classifies: the one before a final classifier head (a
        softmax), else the output."""
        output = self.outputs[0] if len(self.outputs) == 1 else self.layers[-1].name
        layer = self.layer(output)
        return layer.inputs[0] if layer.op.classifier_head else output

    def input_shapes(self, layer: Layer) -> list[Shape]:
        return [self.shapes[name] for name in layer.inputs]

    def takes_weights(self, layer: Layer) -> bool:
        """True for a layer whose operator has parameter arrays (convolutions, inner
        products, ...)."""
        return bool(layer.op.weight_shapes(self.input_shapes(layer)))

    def weighted_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if self.takes_weights(layer)]

    def consumers(self, name: str) -> list[Layer]:
        return list(self._consumers.get(name, ()))

    @property
    def has_weights(self) -> bool:
        """True when every layer that needs parameters has them."""
        return all(
            bool(layer.weights) or not layer.op.weight_shapes(self.input_shapes(layer))
            for layer in self.layers
        )

    def flatten_source(self, name: str) -> Shape:
        """The spatial layout a vector-consuming layer's input was flattened from.

        Follows the producer of ``name`` back through operators that keep the
        element order (Flatten, element-wise operators on a vector) until a tensor
        with spatial extent; returns that tensor's shape, or the shape of ``name``
        itself when there is none.
        """
        shape = self.shapes[name]
        current = self.layer(name)
        while shape.is_vector and current.op.in_place and len(current.inputs) == 1:
            source = current.inputs[0]
            source_shape = self.shapes[source]
            if source_shape.size != shape.size:
                break
            shape = source_shape
            if not shape.is_vector:
                break
            current = self.layer(source)
        return shape
