"""What a network puts on the microcontroller: per-layer shapes, work and memory.

Conventions: output shapes are [H, W, C] (a vector is [1, 1, N]); ``macs`` counts the
multiply-accumulates of convolutions and inner products only; ``weight_bytes``
counts weights at one byte each, no biases; a layer's working set is its input
bytes plus its output bytes, an in-place layer counted once;
``peak_activation_bytes`` is the largest working set.
"""

from __future__ import annotations

from typing import Any

from nn2mcu.ir import Graph, Layer


def _layer_row(graph: Graph, layer: Layer) -> dict[str, Any]:
    inputs = graph.input_shapes(layer)
    output = graph.shapes[layer.name]
    shapes = layer.op.weight_shapes(inputs)
    counts = {name: _count(shape) for name, shape in shapes.items()}
    in_bytes = sum(shape.size for shape in inputs)
    in_place = layer.op.in_place and len(inputs) == 1 and inputs[0].size == output.size
    row: dict[str, Any] = {
        "name": layer.name,
        "type": layer.op.type_name,
        "inputs": list(layer.inputs),
        "output_shape": output.as_list(),
        "macs": layer.op.macs(inputs, output),
        "params": sum(counts.values()),
        "weight_bytes": counts.get("weight", 0),
        "bias_params": counts.get("bias", 0) if "weight" in counts else 0,
        "activation_bytes": output.size,
        "working_bytes": output.size if in_place else in_bytes + output.size,
        "in_place": in_place,
    }
    for attribute in ("kernel", "stride", "pad"):
        value = getattr(layer.op, attribute, None)
        if value is not None:
            row[attribute] = list(value)
    method = getattr(layer.op, "method", None)
    if method is not None:
        row["method"] = method.value
    return row


def _count(shape: tuple[int, ...]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def summarize(graph: Graph) -> dict[str, Any]:
    """The inspect report as one JSON-serialisable object."""
    rows = [_layer_row(graph, layer) for layer in graph.layers]
    peak = max(rows, key=lambda row: row["working_bytes"])
    return {
        "name": graph.name,
        "has_weights": graph.has_weights,
        "outputs": list(graph.outputs),
        "layers": rows,
        "totals": {
            "layers": len(rows),
            "macs": sum(row["macs"] for row in rows),
            "weight_bytes": sum(row["weight_bytes"] for row in rows),
            "bias_params": sum(row["bias_params"] for row in rows),
            "params": sum(row["params"] for row in rows),
            "activation_bytes": sum(row["activation_bytes"] for row in rows),
            "peak_activation_bytes": peak["working_bytes"],
            "peak_layer": peak["name"],
        },
    }


def _geometry(graph: Graph, name: str) -> str:
    return graph.layer(name).op.geometry()


def format_table(graph: Graph, summary: dict[str, Any]) -> str:
    """The inspect report as an aligned text table with a totals line."""
    header = (
        "layer",
        "type",
        "output HxWxC",
        "kernel/stride/pad",
        "MACs",
        "params",
        "weight B",
        "activation B",
    )
    body = [
        (
            row["name"],
            row["type"],
            "x".join(str(v) for v in row["output_shape"]),
            _geometry(graph, row["name"]),
            f"{row['macs']:,}",
            f"{row['params']:,}",
            f"{row['weight_bytes']:,}",
            f"{row['activation_bytes']:,}" + (" (in place)" if row["in_place"] else ""),
        )
        for row in summary["layers"]
    ]
    totals = summary["totals"]
    footer = (
        "total",
        "",
        "",
        "",
        f"{totals['macs']:,}",
        f"{totals['params']:,}",
        f"{totals['weight_bytes']:,}",
        f"peak {totals['peak_activation_bytes']:,}",
    )
    table = [header, *body, footer]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = {4, 5, 6}

    def render(line: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [f"{summary['name']}" + ("" if summary["has_weights"] else " (no weights loaded)")]
    lines += [render(header), rule, *(render(line) for line in body), rule, render(footer)]
    lines.append(
        f"biases: {totals['bias_params']:,} parameters; peak activation memory "
        f"{totals['peak_activation_bytes']:,} B at '{totals['peak_layer']}' (input + output)"
    )
    return "\n".join(lines)
