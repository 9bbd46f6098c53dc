"""The interface of a quantization scheme: what is per scheme but not per operator.

A scheme names its model type, quantizes a float graph (``quantize``), builds a model from
parameters someone else chose (``from_quantized``), writes and reads its model-file fields
and checks a read model before any work (``validate``), and gives the code generator the C
element type and the scheme's parts of the file templates (the input stage, the CMSIS
build), and the report its rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nn2mcu.datasets import Dataset
from nn2mcu.errors import InputError
from nn2mcu.ir import Graph
from nn2mcu.ir.binding import Site
from nn2mcu.ops import binding
from nn2mcu.quant.calibrate import Calibration

KERNELS = Path(__file__).resolve().parent.parent / "kernels"


def int_array(arrays: Any, key: str) -> np.ndarray:
    """The .npz array ``key`` as int64, refused (ValueError) unless it holds integers."""
    values = np.asarray(arrays[key])
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"array '{key}' has dtype {values.dtype}, expected integers")
    return values.astype(np.int64)


def float_array(arrays: Any, key: str) -> np.ndarray:
    """The .npz array ``key`` as float64, refused unless it holds finite numbers."""
    values = np.asarray(arrays[key])
    if not np.issubdtype(values.dtype, np.floating) or not np.all(np.isfinite(values)):
        raise ValueError(f"array '{key}' must hold finite floats (dtype {values.dtype})")
    return values.astype(np.float64)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_range(where: str, what: str, values: np.ndarray, low: int, high: int) -> None:
    if values.size and (values.min() < low or values.max() > high):
        raise InputError(f"{where}: {what} holds values outside {low}..{high}")


@dataclass
class Quantized:
    """What a scheme's quantizer returns: the model, the calibration split it used, and
    the accuracy report (test set, per layer)."""

    model: Any
    calibration: Calibration
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CmsisBuild:
    """How a generated Makefile or CMakeLists.txt builds against a real CMSIS tree of the
    scheme's API: paths relative to the tree's root (``variable`` names it)."""

    variable: str  # the environment variable (and make or CMake variable) naming the tree
    comment: str  # the Makefile's first lines
    nn: str  # the NN library's folder inside the tree ("" for the root itself)
    includes: tuple[str, ...]  # include folders inside the tree
    sources: tuple[str, ...]  # source file patterns inside the NN library's folder

    def make_nn(self) -> str:
        root = f"$(abspath $({self.variable}))"
        return f"{root}/{self.nn}" if self.nn else root

    def make_includes(self) -> str:
        root = f"$(abspath $({self.variable}))"
        folders = [f"-I{root}/{folder}" for folder in self.includes]
        return " \\\n           ".join(["-I$(CURDIR)", *folders])

    def make_sources(self) -> str:
        return " ".join(f"$(wildcard $(NN)/{pattern})" for pattern in self.sources)


class Scheme(ABC):
    name: ClassVar[str]
    model_type: ClassVar[type]
    element_type: ClassVar[str]  # C type of activations and the network input
    status_ok: ClassVar[str]  # what a kernel returns on success
    kernel_files: ClassVar[tuple[Path, ...]]  # the portable kernels copied into a project
    weight_arrays: ClassVar[tuple[str, ...]]  # the const arrays of a weighted layer (suffixes)
    cmsis_variable: ClassVar[str]  # the environment variable naming a real CMSIS tree
    cmsis_tree: ClassVar[str]  # what that tree is, in words ("CMSIS-NN")
    cmsis_functions: ClassVar[str]  # the CMSIS functions the code is bit-exact with, in words
    api_words: ClassVar[str]  # the scheme's number format and API, in words

    # --- quantization and model files ---
    @abstractmethod
    def quantize(
        self, graph: Graph, dataset: Dataset, options: Any, progress: Callable[[str], None]
    ) -> Quantized: ...

    @abstractmethod
    def format_report(self, report: dict[str, Any]) -> str: ...

    @abstractmethod
    def write_fields(self, model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The model's arrays (for the .npz) and its model.json fields."""

    @abstractmethod
    def read_fields(self, document: dict[str, Any], arrays: Any, graph: Graph) -> Any:
        """The model from its model.json document and its arrays."""

    tensor_parameter: ClassVar[str]  # what each tensor carries, for messages

    def validate(self, model: Any, where: str) -> None:
        """Refuse a read model whose values the kernels cannot take (InputError naming
        ``where``, the file, and the layer or value): the weighted layers are the graph's,
        every tensor has its parameters, the arrays have their layers' shapes and ranges."""
        graph = model.graph
        names = {layer.name for layer in graph.weighted_layers()}
        if set(model.weighted) != names:
            raise InputError(
                f"{where}: quantized layers {sorted(model.weighted)} differ from the graph's "
                f"weighted layers {sorted(names)}"
            )
        for graph_layer in graph.layers:  # the kernels' constraints (their API's dims too)
            if graph_layer.op.arity == 0:
                continue
            site = Site(graph, graph_layer)
            try:
                binding(site, self.name).check(site)
            except InputError as error:
                raise InputError(f"{where}: {error}") from None
        parameters = self.tensor_parameters(model)
        missing = [layer.name for layer in graph.layers if layer.name not in parameters]
        if missing:
            raise InputError(f"{where}: layer '{missing[0]}' has no {self.tensor_parameter}")
        shape = graph.shapes[graph.input_name]
        means = ((0,),) if model.tensor_input else ((shape.h, shape.w, shape.c), (shape.c,))
        if model.mean.shape not in means:
            raise InputError(
                f"{where}: the input mean has shape {list(model.mean.shape)}, the input is "
                f"{shape} (HWC)"
            )
        for name, layer in model.weighted.items():
            graph_layer = graph.layer(name)
            expected = graph_layer.op.weight_shapes(graph.input_shapes(graph_layer))
            if layer.weight.shape != expected["weight"]:
                raise InputError(
                    f"{where}: layer '{name}': weight has shape {list(layer.weight.shape)}, "
                    f"expected {list(expected['weight'])}"
                )
            check_range(where, f"layer '{name}' weight", layer.weight, -128, 127)
            channels = layer.weight.shape[graph_layer.op.weight_channel_axis]
            self.validate_layer(where, name, layer, channels)
        self.validate_tensors(where, parameters)
        if model.logits not in graph.shapes:
            raise InputError(f"{where}: logits layer '{model.logits}' is not in the graph")

    @abstractmethod
    def tensor_parameters(self, model: Any) -> Mapping[str, Any]:
        """Each tensor's parameters (by layer name)."""

    @abstractmethod
    def validate_layer(self, where: str, name: str, layer: Any, channels: int) -> None:
        """The scheme's checks of one weighted layer's parameters."""

    @abstractmethod
    def validate_tensors(self, where: str, parameters: Mapping[str, Any]) -> None:
        """The scheme's checks of the tensors' parameters."""

    @abstractmethod
    def weight_bytes(self, model: Any) -> int: ...

    # --- code generation ---
    @abstractmethod
    def input_defines(self, model: Any) -> list[str]:
        """parameter.h's lines about the input stage."""

    @abstractmethod
    def nn_c_parts(self, model: Any) -> dict[str, str]:
        """The scheme's parts of nn.c: ``includes`` and the input stage's ``quantized``
        expression (of ``centred``)."""

    @abstractmethod
    def value_format(self, model: Any, tensor: str) -> str:
        """How a C value of ``tensor`` maps to the real number it stands for (the
        generated README's words)."""

    def compile_definitions(self, model: Any) -> tuple[str, ...]:
        """Preprocessor names the kernels must be compiled with for ``model``."""
        return ()

    def makefile_defines(self, model: Any) -> str:
        """A DEFINES line for the Makefiles ('' when the scheme needs none)."""
        names = self.compile_definitions(model)
        if not names:
            return ""
        flags = " ".join(f"-D{name}" for name in names)
        return f"DEFINES = {flags}  # as the model was quantized\n"

    @abstractmethod
    def cmsis_build(self, root: Path) -> CmsisBuild: ...

    @abstractmethod
    def check_cmsis_root(self, root: str | None, calls: list[Any]) -> Path:
        """The CMSIS tree named by the scheme's variable, checked for what the calls use."""

    # --- verification and report ---
    def reference_model(self, model: Any, target: str, kernels: str) -> Any:
        """The model whose simulation the linked kernels on ``target`` compute."""
        return model

    @abstractmethod
    def report_rows(self, model: Any, report: dict[str, Any]) -> dict[str, Any]:
        """The report's quantization facts: the input stage in words, and the scheme's own
        keys."""

    @abstractmethod
    def layer_table(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        """The report's per-layer table from the quantizer's report rows."""

    @abstractmethod
    def layer_ranges(self, row: dict[str, Any]) -> tuple[tuple[float, float], tuple[float, float]]:
        """The real ranges a layer's int8 weights and outputs represent (its report row)."""
