"""`python -m export defaults --quick` trains and exports every default model (slow: minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_defaults_quick_writes_every_model(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "export", "defaults", "--quick", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1150,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("embedder", "cartoon", "face_drawing", "face_drawing_BtoA", "deepfake", "predictor"):
        path = tmp_path / f"{name}.onnx"
        assert path.exists(), f"{name}.onnx missing: {sorted(p.name for p in tmp_path.iterdir())}"
        onnx.checker.check_model(onnx.load(str(path)))


def test_list_names_trained_models() -> None:
    proc = subprocess.run([sys.executable, "-m", "export", "list"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for name in ("cyclegan", "fast-style", "animegan2", "siamese", "face-drawing", "deepfake", "predictor"):
        assert name in proc.stdout


def test_defaults_rejects_unknown_model() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "export", "defaults", "--only", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "error:" in proc.stderr
