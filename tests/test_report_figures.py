"""The report's figures: legends never cover the data (they sit beside the axes)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from nn2mcu.report import figures

KIB = 1024


def _legend_clear_of_data(figure: Figure) -> None:
    figure.tight_layout()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (axes,) = figure.axes
    legend = axes.get_legend()
    assert legend is not None
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(axes.get_window_extent(renderer)), "the legend lies on the axes"
    # and inside the picture, so the saved PNG shows it whole
    assert figure.bbox.contains(box.x0, box.y0) and figure.bbox.contains(box.x1, box.y1)
    plt.close(figure)


@pytest.mark.parametrize("board", [True, False])
def test_the_budget_legend_covers_no_bar_and_no_board_line(board: bool) -> None:
    used = {
        "flash": {"weights and biases": 30_154, "code and constants": 14_000, "initial data": 96},
        "RAM": {"arena": 31_360, "other data and bss": 2_100},
    }
    limits = {"flash": 512 * KIB, "RAM": 128 * KIB} if board else None
    figure = figures.budget_plot(used, limits)
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert ("the board's size" in labels) == board
    _legend_clear_of_data(figure)


def test_the_instructions_legend_covers_no_bar() -> None:
    names = [f"layer{i}" for i in range(12)]
    _legend_clear_of_data(
        figures.instructions_plot(
            names, [10**6 * (i + 1) for i in range(12)], [10**5 * (i + 1) for i in range(12)]
        )
    )
