"""Lowering a quantized model (either scheme) to kernel calls, and the static memory plan.

Each layer's binding in the model's scheme chooses the kernel (with its reason), the
scratch size and whether the call writes over its first input; a layer whose binding
moves no data (Dropout, Flatten, a fused activation) aliases its input's buffer.

Every activation and scratch buffer lives in one arena; each is alive from the call
that writes it to the last call that reads it (every input of a call counts), and
buffers whose lifetimes overlap get disjoint byte ranges (greedy first fit, largest
first, every offset 4-byte aligned). A kernel that reads past the end of its input
(the _RGB convolution, 3 bytes) gets those spare bytes.

With nn2mcu's portable kernels a call's output may also be laid over an input that dies
at that call (an overlay), starting at least the binding's lead before it: the kernel
reads every byte before it overwrites it. Overlays are taken one at a time, each only when
it lowers the plan (the largest footprint of any call, then the next largest, and so on),
and kept only when the arena would be larger without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nn2mcu.ir.binding import Call, Kernel, QuantizedModel, Site
from nn2mcu.ops import binding

__all__ = [
    "Buffer",
    "Call",
    "Kernel",
    "Overlay",
    "Program",
    "flash_bytes",
    "lower",
    "weight_bytes",
]


@dataclass
class Buffer:
    name: str
    size: int
    first: int  # index of the call that writes it
    last: int  # index of the last call that reads it
    offset: int = -1


@dataclass(frozen=True)
class Overlay:
    """Call ``call`` writes its output ``output`` over its input ``source``, which dies
    there: the output starts ``lead`` bytes before the input."""

    call: int
    source: str
    output: str
    lead: int


@dataclass
class Program:
    model: QuantizedModel  # the quantized model of one scheme
    calls: list[Call]
    buffers: dict[str, Buffer]
    input_buffer: str
    logits_buffer: str
    softmax_buffer: str | None  # the probabilities after the logits, when the net has them
    arena_size: int = 0
    overlays: list[Overlay] = field(default_factory=list)

    @property
    def scheme(self) -> str:
        return str(self.model.scheme)

    @property
    def portable_only(self) -> list[str]:
        """What of the plan only nn2mcu's portable kernels offer (outputs laid over inputs,
        nn2mcu's own entry points); empty when any CMSIS-NN runs it."""
        own = sorted({call.kernel.name for call in self.calls if call.kernel.portable_only})
        return (["outputs laid over inputs that die"] if self.overlays else []) + own

    def site(self, call: Call) -> Site:
        return Site(self.model.graph, call.layer, self.model)

    def overlay_note(self, index: int) -> str | None:
        """What call ``index`` shares of the arena, in words, or None."""
        for overlay in self.overlays:
            if overlay.call == index:
                source = (
                    "the network input"
                    if overlay.source == self.input_buffer
                    else f"{overlay.source}'s output"
                )
                where = (
                    f"from {overlay.lead:,} bytes before it" if overlay.lead else "from its start"
                )
                return f"output laid over {source}, which dies here, {where}"
        return None


def lower(model: QuantizedModel, kernels: str = "portable") -> Program:
    """The kernel calls and the memory plan of a quantized model (either scheme), for
    nn2mcu's portable kernels (outputs may be laid over inputs that die) or for a user's
    CMSIS (``kernels="cmsis"``: no overlays)."""
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
        if kernels == "portable":  # what nn2mcu's own kernel does with the call
            own, portable = rules.portable_function(site), rules.portable_reason(site)
            kernel = Kernel(own or kernel.name, portable or kernel.reason, own is not None)
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
    candidates = _overlay_candidates(program) if kernels == "portable" else []
    program.overlays = _choose(list(buffers.values()), candidates, len(calls))
    arena = _place(list(buffers.values()), program.overlays)
    assert arena is not None  # the chosen overlays were placed once already
    program.arena_size = arena
    return program


def _overlay_candidates(program: Program) -> list[Overlay]:
    """Every input that dies at its call (read once there) and that the binding lets the
    call's output lie over."""
    found = []
    for index, call in enumerate(program.calls):
        if call.output in call.inputs:
            continue  # an in-place call
        site = program.site(call)
        rules = binding(site, program.model.scheme)
        for position, source in enumerate(call.inputs):
            if call.inputs.count(source) != 1 or program.buffers[source].last != index:
                continue
            lead = rules.output_lead(site, position)
            if lead is not None:
                found.append(Overlay(index, source, call.output, lead))
    return found


def _choose(buffers: list[Buffer], candidates: list[Overlay], calls: int) -> list[Overlay]:
    """Overlays taken greedily, each the one that lowers the plan most, while one does;
    then those the arena's size does not need dropped."""
    chosen: list[Overlay] = []
    _place(buffers, chosen)  # no overlay: always placeable
    best = _footprints(buffers, calls)
    while True:
        pick = None
        for candidate in candidates:
            if candidate in chosen or _place(buffers, [*chosen, candidate]) is None:
                continue
            score = _footprints(buffers, calls)
            if score < best:
                best, pick = score, candidate
        if pick is None:
            break
        chosen.append(pick)
    peak = _place(buffers, chosen)
    for overlay in reversed(list(chosen)):  # keep only what the peak needs
        fewer = [other for other in chosen if other != overlay]
        arena = _place(buffers, fewer)  # a subset of placeable overlays: placeable
        if arena is not None and peak is not None and arena <= peak:
            chosen = fewer
    return chosen


def _footprints(buffers: list[Buffer], calls: int) -> list[int]:
    """The arena bytes each call uses (to the end of its highest live buffer), largest
    first: the plan's figure of merit, compared lexicographically."""
    ends = [0] * (calls + 1)
    for buffer in buffers:
        for index in range(max(buffer.first, 0), buffer.last + 1):
            ends[index] = max(ends[index], buffer.offset + buffer.size)
    return sorted(ends, reverse=True)


def _align4(offset: int) -> int:
    return (offset + 3) & ~3


def _live_together(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def _groups(
    buffers: list[Buffer], overlays: list[Overlay]
) -> list[list[tuple[Buffer, int]]] | None:
    """The buffers in groups of fixed relative offsets (a buffer alone, or the chain its
    overlays tie it into); None when a group would overlap two buffers live together
    that no overlay joins."""
    by_name = {buffer.name: buffer for buffer in buffers}
    where = {buffer.name: 0 for buffer in buffers}  # offset within its group
    group_of = {buffer.name: buffer.name for buffer in buffers}
    members = {buffer.name: [buffer.name] for buffer in buffers}
    for overlay in overlays:
        into, moved = group_of[overlay.source], group_of[overlay.output]
        if into == moved:
            return None
        shift = where[overlay.source] - overlay.lead - where[overlay.output]
        for name in members[moved]:
            where[name] += shift
            group_of[name] = into
        members[into] += members.pop(moved)
    joined = {(o.source, o.output) for o in overlays} | {(o.output, o.source) for o in overlays}
    groups = []
    for names in members.values():
        base = min(where[name] for name in names)
        group = [(by_name[name], where[name] - base) for name in names]
        for i, (a, at) in enumerate(group):
            for b, bt in group[i + 1 :]:
                if (
                    (a.name, b.name) not in joined
                    and _live_together(a, b)
                    and at < bt + b.size
                    and bt < at + a.size
                ):
                    return None
        groups.append(group)
    return groups


def _place(buffers: list[Buffer], overlays: list[Overlay] | None = None) -> int | None:
    """Offsets for the buffers, each 4-byte aligned (q15 scratch and word loads need it),
    the overlaid ones at their leads; the arena size, or None when the overlays conflict."""
    groups = _groups(buffers, overlays or [])
    if groups is None:
        return None

    def order(group: list[tuple[Buffer, int]]) -> tuple[int, int, str]:
        extent = max(at + b.size for b, at in group)
        return (-extent, min(b.first for b, _ in group), min(b.name for b, _ in group))

    placed: list[Buffer] = []
    for group in sorted(groups, key=order):
        forbidden = [
            (other.offset - at - buffer.size, other.offset + other.size - at)
            for buffer, at in group
            for other in placed
            if _live_together(buffer, other)
        ]
        starts = sorted({0, *(_align4(high) for _, high in forbidden if high > 0)})
        base = next(u for u in starts if all(not low < u < high for low, high in forbidden))
        for buffer, at in group:
            buffer.offset = base + at
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
