"""nn2mcu supported-ops: generated from the bindings, and the README shows the same table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from nn2mcu.supported import format_markdown, supported_ops

README = Path(__file__).resolve().parents[1] / "README.md"
SCRIPT = Path(sys.executable).with_name("nn2mcu")


def test_the_readme_shows_the_generated_table() -> None:
    text = README.read_text()
    found = re.search(r"<!-- supported-ops:.*?-->\n(.*?)<!-- end supported-ops -->", text, re.S)
    assert found is not None
    assert found.group(1) == format_markdown(supported_ops()), (
        "README.md's supported-ops table is out of date: paste `nn2mcu supported-ops --markdown`"
    )


def test_the_command_lists_constraints_and_refusals() -> None:
    result = subprocess.run([str(SCRIPT), "supported-ops", "--json"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {(row["kind"], row["scheme"]): row for row in json.loads(result.stdout)}
    assert rows[("relu6", "q7")]["supported"] is False
    assert "arm_relu_q7 clamps at 0 only" in rows[("relu6", "q7")]["reason"]
    pool = rows[("pool2d", "q7")]
    assert pool["functions"] == ["arm_maxpool_q7_HWC", "arm_avepool_q7_HWC"]
    assert any("padded windows" in text for text in pool["constraints"])
    assert rows[("conv2d", "s8")]["functions"] == ["arm_convolve_wrapper_s8"]
    text = subprocess.run([str(SCRIPT), "supported-ops"], capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip
    assert "constraint: the q7 depthwise kernels need an even channel count" in text
