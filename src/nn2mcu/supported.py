"""``nn2mcu supported-ops``: the table of (operator, scheme) with the kernel functions each
binding calls and every constraint's text, generated from the bindings and refusals."""

from __future__ import annotations

from typing import Any

from nn2mcu.ir.binding import constraint_text
from nn2mcu.ops import BINDINGS, OPS, REFUSALS
from nn2mcu.ops.registry import SCHEME_NAMES


def _summary(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text


def supported_ops() -> list[dict[str, Any]]:
    """One entry per (operator, scheme): supported or not, the functions, the constraints
    (or the reason it is refused)."""
    rows = []
    for kind, op in OPS.items():
        if op.arity == 0:
            continue  # the input: each scheme's input stage (nn_preprocess)
        for scheme in SCHEME_NAMES:
            binding = BINDINGS.get((kind, scheme))
            row: dict[str, Any] = {"operator": op.type_name, "kind": kind, "scheme": scheme}
            if binding is None:
                row.update(
                    supported=False,
                    reason=REFUSALS.get((kind, scheme), f"no {scheme} binding"),
                )
            else:
                row.update(
                    supported=True,
                    functions=list(binding.functions),
                    description=_summary(type(binding).__doc__),
                    constraints=[constraint_text(rule) for rule in binding.constraints],
                )
            rows.append(row)
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| operator | scheme | function(s) | constraints |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row["supported"]:
            functions = ", ".join(f"`{name}`" for name in row["functions"]) or "no call"
            constraints = "; ".join(row["constraints"]) or "none"
        else:
            functions, constraints = "refused", row["reason"]
        lines.append(
            f"| {row['operator']} | {row['scheme']} | {_cell(functions)} | {_cell(constraints)} |"
        )
    return "\n".join(lines) + "\n"


def format_text(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        head = f"{row['operator']} ({row['kind']}), {row['scheme']}"
        if not row["supported"]:
            out.append(f"{head}: refused: {row['reason']}")
            continue
        functions = ", ".join(row["functions"]) or "no call (moves no data)"
        out.append(f"{head}: {functions}")
        out.append(f"    {row['description']}")
        for text in row["constraints"]:
            out.append(f"    constraint: {text}")
    return "\n".join(out) + "\n"
