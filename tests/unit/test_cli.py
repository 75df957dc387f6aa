"""The command line: check, stages, run errors, and SIGINT finalising the output file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import pytest

from streamer.cli import main

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = sorted((ROOT / "graphs").glob("*.yaml"))


def streamer(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_every_shipped_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert GRAPHS, "graphs/ has graphs"
    assert main(["check", *map(str, GRAPHS)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok: ") == len(GRAPHS)


def test_check_bad_graph_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {name: cam, type: capture, uri: 0, colour: red}\n")
    proc = streamer("check", str(bad))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "bad.yaml:2: stage 'cam' (capture): key 'colour': unknown key" in lines[0]


def test_stages_lists_every_type_with_params(capsys: pytest.CaptureFixture[str]) -> None:
    from streamer.stages.base import load_all

    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    for name in load_all():
        if name.startswith("t_"):
            continue
        assert f"\n{name} (" in "\n" + out, name
    assert "uri: int | str (required)" in out
    assert "path: str (required)" in out
    assert main(["stages", "resize"]) == 0
    assert "width" in capsys.readouterr().out


def test_run_missing_source_file_is_one_line(tmp_path: Path) -> None:
    proc = streamer(
        "run",
        "graphs/file_transcode.yaml",
        "--set",
        "cam.uri=/nonexistent/clip.mp4",
        "--set",
        f"out.path={tmp_path}/o.mp4",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "/nonexistent/clip.mp4" in err[0]


def test_run_stage_error_names_stage_and_frame(tmp_path: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text(
        textwrap.dedent(f"""\
        stages:
          - {{name: cam, type: capture, uri: testsrc, frames: 30, width: 64, height: 48}}
          - {{name: shrink, type: resize, width: 32}}
          - {{name: out, type: frames, dir: {tmp_path}/f}}
        """)
    )
    # a directory where the PNG for frame 5 should go makes the frames sink fail on frame 5
    (tmp_path / "f").mkdir()
    proc = streamer("run", str(g), "--quiet", "--set", "out.clean=false")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "f" / "000005.png").unlink()
    (tmp_path / "f" / "000005.png").mkdir()
    proc = streamer("run", str(g), "--quiet", "--set", "out.clean=false")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error: stage 'out' on frame 5" in proc.stderr


@pytest.mark.timeout(120)
def test_sigint_finalises_mp4_with_every_processed_frame(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    metrics = tmp_path / "m.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer",
            "run",
            "graphs/file_transcode.yaml",
            "--realtime",
            "--quiet",
            "--set",
            "cam.uri=testsrc",
            "--set",
            "cam.width=320",
            "--set",
            "cam.height=240",
            "--set",
            f"out.path={out}",
            "--json",
            str(metrics),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    partial = tmp_path / "out.partial.mp4"  # written under this name until finalised
    while not (partial.exists() and partial.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # ~45 frames at 30 fps
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    written = json.loads(metrics.read_text())
    encoded = next(s for s in written["stages"] if s["stage"] == "out")["frames_in"]
    assert encoded >= 30
    with av.open(str(out)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    assert decoded == encoded and not partial.exists()


def test_no_torch_in_runtime() -> None:
    code = (
        "import sys, streamer.cli, streamer.runner, streamer.graph, streamer.bench;"
        "from streamer.stages.base import load_all; load_all();"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert proc.stdout.strip() == "False", proc.stderr
