"""The interface of an (operator, scheme) binding: everything one scheme needs to know of
one operator, kept in the operator's own module next to its IR half.

A binding declares its support constraints (small functions whose docstring is the
refusal text, Vela's style), chooses the kernel with its reason, sizes the scratch buffer,
says whether its call writes over its first input or moves no data at all, runs the
bit-exact simulation step over a tuple of inputs, and writes the C parameters and the C
call. The drivers (simulate, lower, emit, supported-ops) look bindings up by (operator
kind, scheme) and name no operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError
from nn2mcu.ir.graph import Graph, Layer
from nn2mcu.ir.op import Op
from nn2mcu.ir.shape import Shape

IntArray = npt.NDArray[np.integer]


class QuantizedModel(Protocol):
    """What the drivers (simulate, lower, emit, verify) read of a quantized model of any
    scheme; each scheme's model type adds its own parameters."""

    @property
    def scheme(self) -> str: ...

    @property
    def graph(self) -> Graph: ...

    @property
    def mean(self) -> npt.NDArray[np.int64]: ...

    @property
    def logits(self) -> str: ...

    @property
    def weighted(self) -> Mapping[str, Any]: ...

    @property
    def tensor_input(self) -> bool:
        """True when the network takes int8 tensors as they are (no pixel input stage)."""
        ...

    @property
    def imported(self) -> Any:
        """Where an imported model came from (s8.model.ImportedFrom), or None."""
        ...

    def input_stage(self, pixels: npt.NDArray[Any]) -> npt.NDArray[np.int8]: ...


@dataclass(frozen=True)
class Kernel:
    """The function a layer's call names, and why it was chosen."""

    name: str
    reason: str
    # nn2mcu's own entry point (Binding.portable_function), which only the portable kernels
    # define: not CMSIS-NN's
    portable_only: bool = False


@dataclass(frozen=True)
class Site:
    """One layer where a binding applies: the graph (always) and the quantized model of the
    binding's scheme (``None`` while a graph is only being checked)."""

    graph: Graph
    layer: Layer
    model: Any = None

    @property
    def op(self) -> Any:
        return self.layer.op

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def inputs(self) -> list[Shape]:
        return self.graph.input_shapes(self.layer)

    @property
    def x(self) -> Shape:
        """The shape of the first input."""
        return self.graph.shapes[self.layer.inputs[0]]

    @property
    def output(self) -> Shape:
        return self.graph.shapes[self.layer.name]

    def readers(self) -> list[Layer]:
        """The layers that read this layer's output."""
        return self.graph.consumers(self.layer.name)


@dataclass
class Call:
    """One kernel call of a lowered program: the layer, its kernel, the arena buffers it
    reads (one per input, in order), writes and uses as scratch."""

    layer: Layer
    kernel: Kernel
    inputs: tuple[str, ...]
    output: str
    scratch: str | None = None

    @property
    def input(self) -> str:
        """The buffer of the first input."""
        return self.inputs[0]


@dataclass(frozen=True)
class CStatement:
    """A line of nn_run: ``checked`` calls return a status that nn_run tests."""

    text: str
    checked: bool = False


# A constraint returns True when the site meets it; False, or the value at fault as text
# ("pad 1,1"), when it does not. Its docstring is the refusal text.
Constraint = Callable[[Site], bool | str]


def constraint_text(rule: Constraint) -> str:
    """The refusal text of a constraint: its docstring on one line."""
    return " ".join((rule.__doc__ or rule.__name__).split())


class Binding:
    """Base class of bindings; subclasses set ``op`` and ``scheme`` and override what
    applies. ``functions`` lists the kernel functions the binding may call (for the
    supported-ops table)."""

    op: ClassVar[type[Op]]
    scheme: ClassVar[str]
    functions: ClassVar[tuple[str, ...]] = ()
    constraints: ClassVar[tuple[Constraint, ...]] = ()
    # The call writes its output over its first input (the output shares that buffer).
    in_place: ClassVar[bool] = False
    # Static C functions nn.c defines when a call of this binding is present.
    c_helpers: ClassVar[str] = ""

    def c_helper(self, site: Site, call: Call) -> str:
        """The static C definitions nn.c needs for this call (once per text):
        ``c_helpers`` unless the call's kernel decides."""
        return self.c_helpers

    def check(self, site: Site) -> None:
        """Refuse the layer, naming it and the first constraint it breaks."""
        for rule in self.constraints:
            result = rule(site)
            if result is True:
                continue
            value = f"{result}: " if isinstance(result, str) and result else ""
            raise InputError(
                f"layer '{site.name}' ({site.op.type_name}): {value}{constraint_text(rule)}"
            )

    def moves_no_data(self, site: Site) -> bool:
        """True when the layer needs no call: its output is its first input's buffer."""
        return False

    def kernel(self, site: Site) -> Kernel:
        raise NotImplementedError

    def portable_function(self, site: Site) -> str | None:
        """The function the call takes with nn2mcu's portable kernels when it is nn2mcu's
        own entry point rather than kernel()'s CMSIS-NN one (None: kernel()'s)."""
        return None

    def portable_reason(self, site: Site) -> str | None:
        """Why and how nn2mcu's portable kernel computes the call, where that differs from
        the dispatch ``kernel``'s reason describes (stock CMSIS-NN's); None: the same."""
        return None

    def scratch(self, site: Site) -> int:
        """Bytes of scratch buffer the call needs."""
        return 0

    def input_overread(self, site: Site) -> int:
        """Bytes the kernel may read past the end of its first input."""
        return 0

    def output_lead(self, site: Site, index: int) -> int | None:
        """With nn2mcu's portable kernels, the fewest bytes (a multiple of 4) the output may
        start before input ``index`` and overlap it, the kernel reading every byte it
        overwrites first; None when the output must not overlap that input."""
        return None

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        """The layer's int8 output, bit-exact, from its inputs (NHWC batches)."""
        raise NotImplementedError

    def c_weights(self, site: Site, call: Call) -> str:
        """The layer's const arrays in weights.h ('' for a layer without parameters), in the
        order the call's kernel reads them."""
        return ""

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        """The layer's #defines in parameter.h (names after the layer's prefix)."""
        return {}

    def c_structs(self, site: Site, call: Call) -> list[str]:
        """File-scope definitions in nn.c that the call uses."""
        return []

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        """The statements of nn_run for this call."""
        raise NotImplementedError


BindingTable = Mapping[tuple[str, str], Binding]
