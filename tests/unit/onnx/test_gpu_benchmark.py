"""CI exercises the GPU path without a GPU: the benchmark's ``--cpu --quick`` dry run, the GPU
tests' dry run on the CPU provider (``STREAMER_GPU_DRY=1``), and the wheel-piece join."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_benchmark_dry_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--cpu", "--quick", "--no-tests", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["info"]["mode"] == "cpu dry run"
    sections = {r["section"] for r in doc["rows"]}
    assert {"cyclegan", "models", "file_stylize", "live", "codecs"} <= sections
    cyclegan = [r for r in doc["rows"] if r["section"] == "cyclegan"]
    assert len(cyclegan) == 8 and all(
        r["fps"] > 0 and r["provider"] == "CPUExecutionProvider" for r in cyclegan
    )
    live = next(r for r in doc["rows"] if r["section"] == "live")
    assert live["frames"] > 0 and live["p95_ms"] > 0
    assert "≥ 60 frames/s model alone" in proc.stdout and "| measured" in proc.stdout


def test_gpu_tests_dry_run_on_the_cpu_provider() -> None:
    env = dict(os.environ, STREAMER_GPU_DRY="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_wheel_pieces_are_joined(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.gpu import join_pieces

    data = os.urandom(100_000)
    for i in range(3):
        (tmp_path / f"pkg-1.0-py3-none-any.whl.part-{i:02d}").write_bytes(data[i * 40_000 : (i + 1) * 40_000])
    (tmp_path / "other-2.0-py3-none-any.whl").write_bytes(b"whole")
    wheels = join_pieces(tmp_path)
    assert [w.name for w in wheels] == ["other-2.0-py3-none-any.whl", "pkg-1.0-py3-none-any.whl"]
    assert (tmp_path / "pkg-1.0-py3-none-any.whl").read_bytes() == data
    assert not list(tmp_path.glob("*.part-*"))
