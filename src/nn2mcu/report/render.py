"""report.html and report.md from the report's data (build.py)."""

from __future__ import annotations

import html
from typing import Any

from nn2mcu import __version__
from nn2mcu.schemes import SCHEMES

FIGURE_TITLES = {
    "accuracy": "Accuracy",
    "confusion": "Confusion matrix of the generated C",
    "instructions": "Instructions per layer",
    "budget": "Flash and RAM budget",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
"""


def _verdict(summary: dict[str, Any]) -> str:
    tflm = summary.get("tflm_mismatches")
    ok = summary["mismatches"] == 0 and not tflm
    what = "test images" if tflm is None else "inputs"
    text = (
        f"{'PASS' if ok else 'FAIL'}: {summary['images']:,} {what} on {summary['target']}, "
        f"{summary['mismatches']:,} mismatching bytes against the bit-exact simulator"
    )
    if tflm is not None:
        text += f", {tflm:,} against TensorFlow Lite Micro (tflite-micro {summary['tflm_version']})"
    return text


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _headline(report: dict[str, Any]) -> str:
    """The sentence on where the model came from and how accurate it is."""
    quantization = report["quantization"]
    if "imported_from" in quantization:
        accuracy = report["accuracy"]
        told = "no labels" if accuracy is None else f"accuracy {accuracy:.4f}"
        return (
            f"Imported from {quantization['imported_from']} as TFLite quantized it; the C on "
            f"{report['target']}: {told} over {quantization['test_images']:,} inputs."
        )
    return (
        f"Float accuracy {quantization['float_accuracy']:.4f}, {quantization['scheme']} "
        f"(simulator) {quantization['quantized_accuracy']:.4f} on "
        f"{quantization['test_images']:,} test images; the C on {report['target']}: "
        f"{report['accuracy']:.4f}."
    )


def _rows(report: dict[str, Any]) -> dict[str, list[list[str]]]:
    """The report's tables as rows of strings, shared by HTML and Markdown."""
    tables: dict[str, list[list[str]]] = {}
    network = [["layer", "type", "output HxWxC", "kernel/stride/pad", "MACs", "params"]]
    for row in report["network"]["layers"]:
        geometry = ""
        if "kernel" in row:
            geometry = "{}x{}/{}/{}".format(*row["kernel"], row["stride"][0], row["pad"][0])
            if "method" in row:
                geometry = f"{row['method']} {geometry}"
        network.append(
            [
                row["name"],
                row["type"],
                "x".join(map(str, row["output_shape"])),
                geometry,
                f"{row['macs']:,}",
                f"{row['params']:,}",
            ]
        )
    totals = report["network"]["totals"]
    network.append(["total", "", "", "", f"{totals['macs']:,}", f"{totals['params']:,}"])
    tables["network"] = network

    tables["quantization"] = SCHEMES[report["quantization"]["scheme"]].layer_table(report["layers"])

    kernels = [["call", "layer", "kernel", "why"]]
    has_counts = "instructions_per_inference" in report
    if has_counts:
        kernels[0] += ["MACs", "instructions", "per MAC"]
    for index, entry in enumerate(report["per_layer"]):
        row = [str(index), entry["name"], entry["kernel"], entry["reason"]]
        if has_counts:
            ratio = entry["instructions"] / entry["macs"] if entry["macs"] else 0.0
            row += [
                f"{entry['macs']:,}",
                f"{entry['instructions']:,}",
                f"{ratio:.2f}" if entry["macs"] else "",
            ]
        kernels.append(row)
    tables["kernels"] = kernels

    board = report.get("board")
    budget = [["memory", "part", "bytes", *([f"share of {board['name']}"] if board else [])]]
    for memory, parts in report["budget"].items():
        size_of_board = board["flash" if memory == "flash" else "ram"] if board else 0

        def share(size: int, whole: int = size_of_board) -> list[str]:
            return [_percent(size / whole)] if whole else []

        for part, size in parts.items():
            budget.append([memory, part, f"{size:,}", *share(size)])
        total = sum(parts.values())
        budget.append([memory, "total", f"{total:,}", *share(total)])
    if board:
        budget.append(
            ["flash", f"{board['name']} ({board['mcu']})", f"{board['flash']:,}", "100 %"]
        )
        budget.append(["RAM", f"{board['name']} ({board['mcu']})", f"{board['ram']:,}", "100 %"])
    tables["budget"] = budget

    facts = report.get("on_board")
    if board and facts:
        where = (
            "the whole program" if facts["whole_program"]
            else "weights and arena only (no Cortex-M build)"
        )  # fmt: skip
        rows = [
            ["board", f"{board['name']}: {board['mcu']}, {board['core']}"],
            ["flash used", f"{facts['flash_bytes']:,} of {board['flash']:,} bytes, "
             f"{_percent(facts['flash_share'])} ({where})"],
            ["RAM used", f"{facts['ram_bytes']:,} of {board['ram']:,} bytes, "
             f"{_percent(facts['ram_share'])} ({where})"],
        ]  # fmt: skip
        if "estimated_ms" in facts:
            rows.append(
                ["time per inference (estimate)",
                 f"about {facts['estimated_ms']:.1f} ms: {facts['estimate_basis']}"]
            )  # fmt: skip
        tables["board"] = [["", ""], *rows]

    made = report.get("provenance")
    if made:
        rows = [["nn2mcu", made["nn2mcu"]]]
        if made.get("command"):
            rows.append(["command", made["command"]])
        rows += [
            [f"input {entry['path']}", f"sha256 {entry['sha256']}"] for entry in made["inputs"]
        ]
        if made.get("data"):
            rows.append(["data set", f"{made['data']} (sha256 of the images and labels read: "
                         f"{made['data_sha256']})"])  # fmt: skip
        rows.append(["scheme, target, board", f"{made['scheme']}, {made['target']}, "
                     f"{made['board'] or 'none'}"])  # fmt: skip
        tables["provenance"] = [["", ""], *rows]

    verification = [["target", "images", "mismatching bytes", "accuracy of the C"]]
    for summary in (report.get("host"), report):
        if summary is not None and (summary is report or report["target"] != "host"):
            verification.append(
                [
                    summary["target"],
                    f"{summary['images']:,}",
                    f"{summary['mismatches']:,}",
                    _accuracy(summary["accuracy"]),
                ]
            )
    tables["verification"] = verification
    return tables


def _percent(share: float) -> str:
    """A share as a percentage, never rounded down to 0 when something is used."""
    if 0 < share < 0.001:
        return "< 0.1 %"
    return f"{share * 100:.1f} %"


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(
        f"<th class='l'>{html.escape(c)}</th>" if i < 2 else f"<th>{html.escape(c)}</th>"
        for i, c in enumerate(rows[0])
    )
    body = []
    for row in rows[1:]:
        cells = "".join(
            f"<td class='l'>{html.escape(c)}</td>"
            if i < 2 or not c[:1].isdigit()
            else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _image(name: str, encoded: dict[str, str], alt: str) -> str:
    return (
        f"<img id='figure-{html.escape(name)}' alt='{html.escape(alt)}' "
        f"src='data:image/png;base64,{encoded[name]}'>"
    )


def render_html(report: dict[str, Any], encoded: dict[str, str]) -> str:
    tables = _rows(report)
    quantization = report["quantization"]
    verdicts = [report] + (
        [report["host"]] if report.get("host") and report["target"] != "host" else []
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>nn2mcu report: {html.escape(report['network']['name'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>nn2mcu report: {html.escape(report['network']['name'])}</h1>",
    ]
    for summary in verdicts:
        kind = "pass" if summary["mismatches"] == 0 else "fail"
        parts.append(f"<p class='{kind}'>{html.escape(_verdict(summary))}</p>")
    headline = _headline(report)
    if "imported_from" not in quantization:
        headline = headline[0].lower() + headline[1:]
    parts.append(f"<p>{html.escape(headline)}</p>")
    if report.get("warnings"):
        items = "".join(f"<li>{html.escape(warning)}</li>" for warning in report["warnings"])
        parts += ["<h2>Warnings</h2>", f"<ul class='warnings'>{items}</ul>"]
    parts += ["<h2>Network</h2>", _html_table(tables["network"])]
    if "accuracy" in encoded:
        parts += [
            "<h2>Accuracy</h2>",
            _image("accuracy", encoded, "accuracy"),
            _image("confusion", encoded, "confusion matrix"),
        ]
    parts += [
        "<h2>Quantization per layer</h2>",
        f"<p>input {html.escape(quantization['input'])}</p>",
        _html_table(tables["quantization"]),
    ]
    for row in report["layers"]:
        parts.append(_image(f"histogram-{row['name']}", encoded, f"histograms of {row['name']}"))
    parts += ["<h2>Kernels</h2>", _html_table(tables["kernels"])]
    if "instructions" in encoded:
        parts.append(
            f"<p>{report['instructions_per_inference']:,} instructions per inference (median "
            f"over the images; {html.escape(report['counter'])}).</p>"
        )
        parts.append(_image("instructions", encoded, "instructions per layer"))
    parts += [
        "<h2>Flash and RAM</h2>",
        _html_table(tables["budget"]),
        _image("budget", encoded, "flash and RAM budget"),
    ]
    if "board" in tables:
        parts += ["<h2 id='on-board'>On the board</h2>", _key_table(tables["board"], "board")]
    parts += ["<h2>Verification</h2>", _html_table(tables["verification"])]
    if "provenance" in tables:
        parts += ["<h2 id='how'>How this run was made</h2>",
                  _key_table(tables["provenance"], "provenance")]  # fmt: skip
    parts.append(f"<p><small>nn2mcu {__version__}</small></p></body></html>\n")
    return "\n".join(parts)


def _key_table(rows: list[list[str]], name: str) -> str:
    """A two-column table of names and values (rows[0] is an empty header)."""
    body = "".join(
        f"<tr><th class='l'>{html.escape(key)}</th><td class='l'>{html.escape(value)}</td></tr>"
        for key, value in rows[1:]
    )
    return f"<table id='{name}'>{body}</table>"


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    tables = _rows(report)
    quantization = report["quantization"]
    lines = [f"# nn2mcu report: {report['network']['name']}", ""]
    lines += [f"**{_verdict(report)}**", ""]
    if report.get("host") and report["target"] != "host":
        lines += [f"**{_verdict(report['host'])}**", ""]
    lines += [
        f"{_headline(report)} Figures are in report.html.",
        "",
    ]
    if report.get("warnings"):
        lines += ["## Warnings", "", *[f"- {warning}" for warning in report["warnings"]], ""]
    lines += [
        "## Network",
        "",
        _markdown_table(tables["network"]),
        "",
        "## Quantization per layer",
        "",
        f"input {quantization['input']}",
        "",
        _markdown_table(tables["quantization"]),
        "",
        "## Kernels",
        "",
        _markdown_table(tables["kernels"]),
    ]
    if "instructions_per_inference" in report:
        lines += [
            "",
            f"{report['instructions_per_inference']:,} instructions per inference "
            f"(median; {report['counter']}).",
        ]
    lines += ["", "## Flash and RAM", "", _markdown_table(tables["budget"]), ""]
    if "board" in tables:
        lines += ["## On the board", "", _markdown_table(tables["board"]), ""]
    lines += ["## Verification", "", _markdown_table(tables["verification"]), ""]
    if "provenance" in tables:
        lines += ["## How this run was made", "", _markdown_table(tables["provenance"]), ""]
    return "\n".join(lines)
