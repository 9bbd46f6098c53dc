"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

DPI = 100


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def accuracy_figure(bars: dict[str, float]) -> bytes:
    figure, axes = plt.subplots(figsize=(6, 3.2))
    names, values = list(bars), [100 * v for v in bars.values()]
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"][: len(names)]
    drawn = axes.barh(names, values, color=colours)
    axes.bar_label(drawn, labels=[f"{v:.2f} %" for v in values], padding=3)
    axes.set_xlim(0, 110)
    axes.invert_yaxis()
    axes.set_xlabel("test accuracy (%)")
    axes.set_title("Accuracy: float model, simulator, generated C")
    return _png(figure)


def confusion_figure(matrix: npt.NDArray[np.int64], classes: Sequence[str]) -> bytes:
    size = max(4.0, 0.55 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, labels=list(classes), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(classes))
    axes.set_xlabel("predicted by the generated C")
    axes.set_ylabel("true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(classes) <= 20:
        for (row, column), value in np.ndenumerate(matrix):
            colour = "white" if value > threshold else "black"
            axes.text(column, row, str(value), ha="center", va="center", color=colour, fontsize=8)
    axes.set_title("Confusion matrix")
    return _png(figure)


def _histogram(
    axes: Any, values: npt.NDArray[np.floating], limits: tuple[float, float], title: str
) -> None:
    low, high = limits
    axes.hist(values.ravel(), bins=80, color="#4c72b0", log=True)
    for edge in (low, high):
        axes.axvline(edge, color="#c44e52", linestyle="--", linewidth=1.2)
    axes.set_title(f"{title}: range [{low:.4g}, {high:.4g}]", fontsize=9)
    axes.set_ylabel("count (log)")


def histogram_figure(
    layer: str,
    weights: npt.NDArray[np.floating],
    weight_range: tuple[float, float],
    activations: npt.NDArray[np.floating],
    output_range: tuple[float, float],
    scheme: str = "q7",
) -> bytes:
    """Float weights and outputs of a layer with the ranges its integer types represent."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    _histogram(left, weights, weight_range, "weights")
    _histogram(right, activations, output_range, "outputs")
    figure.suptitle(f"{layer}: float values and the chosen {scheme} range (dashed)", fontsize=10)
    return _png(figure)


def _legend_beside(axes: Any) -> None:
    """The legend to the right of the axes, outside them: it can cover no bar or line."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7)


def instructions_plot(
    names: Sequence[str], instructions: Sequence[int], floor: Sequence[int]
) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 0.35 * len(names) + 1.5))
    positions = np.arange(len(names))
    axes.barh(positions, instructions, color="#4c72b0", label="instructions")
    axes.barh(positions, floor, color="#dd8452", height=0.35, label="MACs / 2 (floor)")
    axes.set_yticks(positions, labels=list(names))
    axes.invert_yaxis()
    axes.set_xlabel("instructions per inference")
    _legend_beside(axes)
    axes.set_title("Work per layer on the emulated Cortex-M")
    return figure


def instructions_figure(
    names: Sequence[str], instructions: Sequence[int], floor: Sequence[int]
) -> bytes:
    return _png(instructions_plot(names, instructions, floor))


def budget_plot(used: dict[str, dict[str, int]], limits: dict[str, int] | None) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 2.6))
    memories = list(used)
    colours = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860"]
    for row, memory in enumerate(memories):
        left = 0
        for index, (part, size) in enumerate(used[memory].items()):
            axes.barh(
                row,
                size / 1024,
                left=left / 1024,
                color=colours[index % len(colours)],
                label=f"{memory}: {part}",
            )
            left += size
        if limits and memory in limits:
            axes.plot(
                [limits[memory] / 1024] * 2, [row - 0.4, row + 0.4], color="#c44e52", linewidth=2,
                label="the board's size" if row == 0 else None,
            )  # fmt: skip
    axes.set_yticks(range(len(memories)), labels=memories)
    axes.set_xlabel("KiB")
    _legend_beside(axes)
    axes.set_title("Flash and RAM")
    return figure


def budget_figure(used: dict[str, dict[str, int]], limits: dict[str, int] | None) -> bytes:
    return _png(budget_plot(used, limits))
