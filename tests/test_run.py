"""nn2mcu run: the whole workflow on a tiny digits net, stages reused after an interrupted
run, and the report rendered by Debian's chromium (which must be installed: scripts/setup
installs it)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from html import escape, unescape
from pathlib import Path

import pytest
from PIL import Image

from nn2mcu.frontends.caffe import load_net
from nn2mcu.modelfile import read_quantized
from nn2mcu.pipeline.stages import tree_hash
from tests.train.conftest import Files

SCRIPT = Path(sys.executable).parent / "nn2mcu"


def nn2mcu(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=1200
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run: 150 iterations, quantized, verified on the host and the M4."""
    root = tmp_path_factory.mktemp("run")
    Files(root).solver("solver.prototxt", max_iter=150, test_interval=0, prefix="snap/tiny")
    result = nn2mcu(
        "run", "solver.prototxt", "--data", "digits", "--board", "nucleo-f411re",
        "--no-progress", "-o", "out", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.cortex_m
def test_run_writes_project_and_reports(finished: Path) -> None:
    out = finished / "out"
    assert {p.name for p in out.iterdir()} == {
        "project", "report.html", "report.md", "report.json", "stages",
    }  # fmt: skip
    assert [p.name for p in sorted((out / "stages").iterdir())] == [
        "1-train", "2-quantize", "3-generate", "4-verify-host", "5-verify-cortex-m4",
    ]  # fmt: skip
    assert (out / "project" / "weights.h").is_file() and (out / "project" / "kernels").is_dir()
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "cortex-m4" and report["mismatches"] == 0
    assert report["host"]["mismatches"] == 0 and report["host"]["images"] == 360
    assert report["board"]["name"] == "nucleo-f411re"
    assert sum(map(sum, report["confusion_matrix"])) == 360
    # the project builds as it is
    build = subprocess.run(["make", "-C", str(out / "project")], capture_output=True, timeout=600)
    assert build.returncode == 0, build.stderr


@pytest.mark.cortex_m
def test_report_json_agrees_with_verify(finished: Path) -> None:
    out = finished / "out"
    report = json.loads((out / "report.json").read_text())
    result = nn2mcu(
        "verify", out / "stages" / "2-quantize" / "model.json", "--data", "digits",
        "--target", "cortex-m4", "--json", cwd=finished,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verify = json.loads(result.stdout)
    for key, value in verify.items():
        assert report[key] == value, key


def test_report_renders_in_chromium(finished: Path, tmp_path: Path) -> None:
    out = finished / "out"
    html = (out / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # no external assets
    images = dict(
        re.findall(
            r"<img id='figure-([\w-]+)' alt='[^']*' src='data:image/png;base64,([^']+)'>", html
        )
    )
    layers = [entry["name"] for entry in json.loads((out / "report.json").read_text())["layers"]]
    expected = {"accuracy", "confusion", "instructions", "budget"} | {
        f"histogram-{n}" for n in layers
    }
    assert expected <= set(images), sorted(expected - set(images))
    assert len(layers) == 2
    for name, data in images.items():
        picture = Image.open(io.BytesIO(base64.b64decode(data)))
        assert picture.format == "PNG"
        assert picture.width > 100 and picture.height > 100, name
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 24) or []) > 1, name
    chromium = shutil.which("chromium")
    assert chromium is not None, "chromium is not installed (scripts/setup installs it)"
    shot = tmp_path / "report.png"
    render = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,3000", (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert render.returncode == 0 and shot.is_file(), render.stderr
    picture = Image.open(shot).convert("RGB")
    colours = picture.getcolors(maxcolors=1 << 24) or []
    assert len(colours) > 50  # text, tables and figures, not a blank page
    # something is drawn far down the page too (the figures loaded)
    lower = picture.crop((0, 1500, picture.width, 3000)).getcolors(maxcolors=1 << 24) or []
    assert len(lower) > 10


@pytest.mark.host
def test_an_interrupted_run_reuses_its_stages(tmp_path: Path) -> None:
    Files(tmp_path).solver("solver.prototxt", max_iter=300, test_interval=0, prefix="snap/tiny")
    command = [str(SCRIPT), "run", "solver.prototxt", "--data", "digits", "--no-progress",
               "-o", "out"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    quantized = tmp_path / "out" / "stages" / "2-quantize" / "stage.json"
    deadline = time.monotonic() + 600
    while not quantized.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert quantized.exists(), "the run ended before its quantize stage"
    assert not (tmp_path / "out" / "report.json").exists(), "the run finished before the kill"
    trained = tmp_path / "out" / "stages" / "1-train" / "stage.json"
    trained_at = trained.stat().st_mtime_ns

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stderr
    assert "== 1-train: unchanged, reused" in rerun.stdout
    assert "== 2-quantize: unchanged, reused" in rerun.stdout
    assert trained.stat().st_mtime_ns == trained_at
    # no temporary stage directories are left behind
    assert not [p for p in (tmp_path / "out" / "stages").iterdir() if p.name.startswith(".")]
    # the project is byte-identical to one generated from the quantized model directly
    model = tmp_path / "out" / "stages" / "2-quantize" / "model.json"
    assert read_quantized(model) is not None
    direct = nn2mcu("generate", model, "-o", tmp_path / "direct", cwd=tmp_path)
    assert direct.returncode == 0, direct.stderr
    (tmp_path / "direct" / ".nn2mcu-project").unlink()
    (tmp_path / "out" / "project" / ".nn2mcu-project").unlink()
    assert tree_hash(tmp_path / "out" / "project") == tree_hash(tmp_path / "direct")
    # a third run reuses everything and writes the same project
    before = tree_hash(tmp_path / "out" / "project")
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged, reused") == 5
    (tmp_path / "out" / "project" / ".nn2mcu-project").unlink()
    assert tree_hash(tmp_path / "out" / "project") == before


@pytest.mark.host
def test_run_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    files = Files(tmp_path)
    solver = files.solver("solver.prototxt", max_iter=10, test_interval=0)
    result = nn2mcu("run", solver, "--data", "digits", "--board", "no-such-board", "-o", "out",
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("nn2mcu: error: --board no-such-board: unknown; known: ")
    assert len(result.stderr.strip().splitlines()) == 1
    result = nn2mcu("run", files.net, "--data", "digits", "-o", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "a net, not a solver; give --weights W" in result.stderr
    assert not (tmp_path / "out" / "stages").exists()


@pytest.mark.host
def test_run_mean_goes_with_weights(tmp_path: Path) -> None:
    solver = Files(tmp_path).solver("solver.prototxt", max_iter=10, test_interval=0)
    result = nn2mcu("run", solver, "--data", "digits", "--mean", "m.binaryproto", "-o", "out",
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert "--mean goes with --weights" in result.stderr


@pytest.mark.cortex_m
def test_run_with_the_s8_scheme(finished: Path) -> None:
    """run --scheme s8 on the trained weights: verified on the host and the M4, and the
    report shows the s8 figures and agrees with verify --json."""
    weights = next((finished / "out" / "stages" / "1-train").glob("weights*"))
    result = nn2mcu(
        "run", "net.prototxt", "--weights", weights, "--data", "digits", "--scheme", "s8",
        "-n", 120, "--no-progress", "-o", "s8", cwd=finished,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = finished / "s8"
    report = json.loads((out / "report.json").read_text())
    assert report["quantization"]["scheme"] == "s8"
    assert report["mismatches"] == 0 and report["host"]["mismatches"] == 0
    assert report["images"] == 120 and report["target"] == "cortex-m4"
    assert "arm_convolve_wrapper_s8" in {entry["kernel"] for entry in report["per_layer"]}
    html = (out / "report.html").read_text()
    for entry in report["layers"]:
        assert f"id='figure-histogram-{entry['name']}'" in html
    assert "s8 (simulator)" in (out / "report.md").read_text()
    model = out / "stages" / "1-quantize" / "model.json"
    assert json.loads(model.read_text())["scheme"] == "s8"
    result = nn2mcu(
        "verify", model, "--data", "digits", "--target", "cortex-m4", "-n", 120, "--json",
        cwd=finished,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for key, value in json.loads(result.stdout).items():
        assert report[key] == value, key


@pytest.mark.host
def test_ctrl_c_during_training_keeps_the_snapshot_and_the_rerun_resumes(tmp_path: Path) -> None:
    """Ctrl-C in the second of two solvers: exit 130, the snapshot kept under
    stages/train-snapshots with a note of the solver, and the same command again continues
    from it to the weights an uninterrupted training gives."""
    files = Files(tmp_path)
    files.solver("one.prototxt", max_iter=60, snapshot=0, test_interval=0, prefix="snap/tiny")
    files.solver("two.prototxt", max_iter=2000, snapshot=20, test_interval=0, base_lr=0.005,
                 prefix="snap/tiny")  # fmt: skip
    command = [str(SCRIPT), "run", "one.prototxt", "two.prototxt", "--data", "digits",
               "--target", "host", "--no-progress", "-o", "out"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    partial = tmp_path / "out" / "stages" / "train-snapshots"
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        reached = [
            int(p.name.split("_iter_")[1].split(".")[0]) for p in partial.glob("*.solverstate")
        ]
        if max(reached, default=0) >= 100:  # into the second solver
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err, err
    record = json.loads((partial / "interrupted.json").read_text())
    assert record["solver"] == 1 and 100 <= record["iteration"] < 2000, record
    assert not (tmp_path / "out" / "stages" / "1-train").exists()

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stderr
    assert "continuing the interrupted training from" in rerun.stdout
    assert not partial.exists()
    reference = nn2mcu("train", "one.prototxt", "two.prototxt", "--data", "digits",
                       "--snapshot-prefix", "full/net", "--no-progress", cwd=tmp_path)  # fmt: skip
    assert reference.returncode == 0, reference.stderr
    resumed = load_net(
        files.net,
        weights=tmp_path / "out" / "stages" / "1-train" / "weights.caffemodel",
        phase="TRAIN",
    )
    full = load_net(
        files.net, weights=tmp_path / "full" / "net_iter_2000.caffemodel", phase="TRAIN"
    )
    assert resumed == full  # the same layers and weight values


def test_reports_show_the_quantizer_warnings(finished: Path) -> None:
    """The report keeps the quantizer's warnings (issue 17, point 9) and shows them first."""
    from nn2mcu.report.render import render_html, render_markdown

    out = finished / "out"
    report = json.loads((out / "report.json").read_text())
    stored = json.loads((out / "stages" / "2-quantize" / "model.json").read_text())["report"]
    assert report["warnings"] == stored["warnings"]
    report["warnings"] = ["layer 'conv1': 10.9 % of its outputs saturate (harmless)"]
    page = render_html(report, {name: "" for name in report["figures"]})
    assert (
        "<h2>Warnings</h2><ul class='warnings'><li>layer &#x27;conv1&#x27;: 10.9 %"
        in page.replace("\n", "")
    )
    assert "## Warnings\n\n- layer 'conv1': 10.9 % of its outputs saturate" in render_markdown(
        report
    )


_PROBE = """<script>
const found = {};
for (const id of ["board", "provenance", "figure-budget"]) {
  const box = document.getElementById(id).getBoundingClientRect();
  found[id] = [box.left, box.top + window.scrollY, box.width, box.height];
}
document.title = JSON.stringify(found);
</script>"""


def _chromium(*args: object) -> subprocess.CompletedProcess[str]:
    chromium = shutil.which("chromium")
    assert chromium is not None, "chromium is not installed (scripts/setup installs it)"
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", *map(str, args)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.mark.cortex_m
def test_report_shows_the_board_share_time_estimate_and_provenance(
    finished: Path, tmp_path: Path
) -> None:
    """The new rows, laid out by a real browser: Chromium places the tables (a probe
    script reads their boxes), and its screenshot has text drawn inside each box."""
    out = finished / "out"
    report = json.loads((out / "report.json").read_text())
    facts, board = report["on_board"], report["board"]
    assert board["clock_hz"] == 100_000_000
    flash = sum(report["budget"]["flash"].values())
    assert facts["flash_bytes"] == flash and facts["flash_share"] == flash / board["flash"]
    assert facts["estimated_ms"] == pytest.approx(report["instructions_per_inference"] / 1e5)
    made = report["provenance"]
    assert made["command"].startswith("nn2mcu run solver.prototxt --data digits")
    inputs = {Path(entry["path"]).name: entry["sha256"] for entry in made["inputs"]}
    solver = (finished / "solver.prototxt").read_bytes()
    assert inputs["solver.prototxt"] == hashlib.sha256(solver).hexdigest()
    assert "model.json" in inputs and made["data"] == "digits" and made["target"] == "cortex-m4"

    text = (out / "report.html").read_text()
    percent = f"{facts['flash_share'] * 100:.1f} %"
    for shown in ("On the board", "time per inference (estimate)", "not modelled", percent,
                  "How this run was made", made["command"], inputs["solver.prototxt"]):  # fmt: skip
        assert escape(shown) in text, shown
    md = (out / "report.md").read_text()
    assert "## On the board" in md and "## How this run was made" in md

    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", _PROBE + "</body>"))
    dumped = _chromium("--dump-dom", "--window-size=1200,2000", probe.as_uri())
    assert dumped.returncode == 0, dumped.stderr
    title = re.search(r"<title>(.*?)</title>", dumped.stdout, re.S)
    assert title is not None
    boxes = json.loads(unescape(title.group(1)))
    bottom = max(top + height for _, top, _, height in boxes.values())
    shot = tmp_path / "report.png"
    taken = _chromium(f"--screenshot={shot}", f"--window-size=1200,{int(bottom) + 50}",
                      probe.as_uri())  # fmt: skip
    assert taken.returncode == 0 and shot.is_file(), taken.stderr
    picture = Image.open(shot).convert("L")
    for name, (left, top, width, height) in boxes.items():
        assert width > 300 and height > 40, (name, width, height)
        area = picture.crop((int(left), int(top), int(left + width), int(top + height)))
        dark = sum(count for count, value in area.getcolors(1 << 16) or [] if value < 100)
        assert dark > 200, f"{name}: nothing drawn in its box"
