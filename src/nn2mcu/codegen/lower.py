"""Lowering a quantized model (either scheme) to kernel calls, and the static memory plan.

Each layer's binding in the model's scheme chooses the kernel (with its reason), the
scratch size and whether the call writes over its first input; a layer whose binding
moves no data (Dropout, Flatten, a fused activation) aliases its input's buffer.

Every activation and scratch buffer lives in one arena; each is alive from the call
that writes it to the last call that reads it (every input of a call counts), and
buffers whose lifetimes overlap get disjoint byte ranges (greedy first fit, largest
first, every offset 4-byte aligned). A kernel that reads past the end of its input
(the _RGB convolution, 3 bytes) gets those spare bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from nn2mcu.ir.binding import Call, Kernel, QuantizedModel, Site
from nn2mcu.ops import binding

__all__ = ["Buffer", "Call", "Kernel", "Program", "flash_bytes", "lower", "weight_bytes"]


@dataclass
class Buffer:
    name: str
    size: int
    first: int  # index of the call that writes it
    last: int  # index of the last call that reads it
    offset: int = -1


@dataclass
class Program:
    model: QuantizedModel  # the quantized model of one scheme
    calls: list[Call]
    buffers: dict[str, Buffer]
    input_buffer: str
    logits_buffer: str
    softmax_buffer: str | None  # the probabilities after the logits, when the net has them
    arena_size: int = 0

    @property
    def scheme(self) -> str:
        return str(self.model.scheme)

    def site(self, call: Call) -> Site:
        return Site(self.model.graph, call.layer, self.model)


def lower(model: QuantizedModel) -> Program:
    """The kernel calls and the memory plan of a quantized model (either scheme)."""
    graph = model.graph
    buffers: dict[str, Buffer] = {}
    calls: list[Call] = []
    tensor_of: dict[str, str] = {}  # layer -> buffer holding its output
    input_name = graph.input_name
    buffers[input_name] = Buffer(input_name, graph.shapes[input_name].size, -1, -1)
    tensor_of[input_name] = input_name
    for layer in graph.layers:
        if layer.op.arity == 0:
            continue
        site = Site(graph, layer, model)
        rules = binding(site, model.scheme)
        rules.check(site)
        sources = tuple(tensor_of[name] for name in layer.inputs)
        if rules.moves_no_data(site):
            tensor_of[layer.name] = sources[0]
            continue
        kernel = rules.kernel(site)
        index = len(calls)
        for source in sources:
            buffers[source].last = index
        if rules.in_place:
            tensor_of[layer.name] = sources[0]
            calls.append(Call(layer, kernel, sources, sources[0]))
            continue
        output = layer.name
        buffers[output] = Buffer(output, graph.shapes[layer.name].size, index, index)
        scratch = None
        size = rules.scratch(site)
        if size:
            scratch = f"{layer.name}_scratch"
            buffers[scratch] = Buffer(scratch, size, index, index)
        overread = rules.input_overread(site)
        if overread:
            buffers[sources[0]].size = max(
                buffers[sources[0]].size, graph.shapes[layer.inputs[0]].size + overread
            )
        tensor_of[layer.name] = output
        calls.append(Call(layer, kernel, sources, output, scratch))
    logits = tensor_of[model.logits]
    output_layer = graph.outputs[0] if len(graph.outputs) == 1 else graph.layers[-1].name
    softmax = tensor_of[output_layer] if output_layer != model.logits else None
    for name in (logits, softmax):
        if name is not None:
            buffers[name].last = len(calls)  # read by the copy to the caller's output
    buffers[input_name].first = -1
    program = Program(model, calls, buffers, input_name, logits, softmax)
    program.arena_size = _place(list(buffers.values()))
    return program


def _align4(offset: int) -> int:
    return (offset + 3) & ~3


def _place(buffers: list[Buffer]) -> int:
    """Offsets for the buffers, each 4-byte aligned (q15 scratch and word loads need it)."""
    placed: list[Buffer] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        offset = 0
        overlapping = sorted(
            (
                other
                for other in placed
                if other.first <= buffer.last and buffer.first <= other.last
            ),
            key=lambda other: other.offset,
        )
        for other in overlapping:
            if offset + buffer.size <= other.offset:
                break
            offset = max(offset, _align4(other.offset + other.size))
        buffer.offset = offset
        placed.append(buffer)
    return max((b.offset + b.size for b in buffers), default=0)


def weight_bytes(program: Program) -> int:
    """Bytes of the weight and parameter arrays in flash (the scheme's rule)."""
    from nn2mcu.schemes import scheme_of

    return scheme_of(program.model).weight_bytes(program.model)


def flash_bytes(program: Program) -> int:
    """Bytes of constant data the generated code puts in flash: the weight and bias arrays
    and the input mean (which a compiler may fold into the code when it is per channel), or
    an imported model's 256-entry pixel table."""
    imported = program.model.imported
    table = 256 if imported is not None and imported.pixel_map is not None else 0
    return weight_bytes(program) + int(program.model.mean.size) + table
