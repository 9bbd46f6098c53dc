"""The fuzz tier's tally, printed at the end of the run."""

from __future__ import annotations

import collections

import pytest

TALLY: collections.Counter[str] = collections.Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    refused, valid, processes = TALLY["refused"], TALLY["valid"], TALLY["subprocess"]
    terminalreporter.write_line(
        f"fuzz tier: {refused + valid} generated inputs, {refused} malformed ones refused "
        f"(exit 2, one line), {valid} still valid (exit 0); {processes} rerun as processes"
    )
