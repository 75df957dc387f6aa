"""``streamer.batch_worker.run_job`` without Ray: one file as ``streamer run`` runs it, sessions reused."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import pytest

from streamer import batch_worker
from streamer.batch_plan import make_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session cache installed for this test only (undone afterwards)."""
    monkeypatch.setattr(onnxruntime, "InferenceSession", onnxruntime.InferenceSession)
    monkeypatch.setattr(batch_worker, "_installed", False)
    monkeypatch.setattr(batch_worker, "_SESSIONS", {})
    monkeypatch.setattr(batch_worker, "SESSION_STATS", {"loads": 0, "reused": 0})


def test_run_job_reuses_the_model_session_and_reports_failures(fresh_cache: None, tmp_path: Path) -> None:
    clip = ROOT / "samples" / "no_face.mp4"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    plan = make_plan(
        ROOT / "graphs" / "file_cartoon.yaml",
        [str(clip), str(bad)],
        [f"{tmp_path}/out/{{stem}}"],
        ["style.size=64", "cam.width=160", "cam.frames=10"],
    )
    good = next(j for j in plan.jobs if j.input == str(clip))
    first = batch_worker.run_job(str(plan.graph), str(ROOT), good)
    assert first["status"] == "ok" and first["error"] is None, first
    assert first["frames"] == 10 and first["model_loads"] == 1 and first["models_reused"] == 0
    again = batch_worker.run_job(str(plan.graph), str(ROOT), good, attempt=2)
    assert again["status"] == "ok" and again["model_loads"] == 0 and again["models_reused"] == 1
    assert Path(good.outputs[0].path).is_file() and not list((tmp_path / "out").glob("*.partial.*"))
    failed = batch_worker.run_job(str(plan.graph), str(ROOT), next(j for j in plan.jobs if j is not good))
    assert failed["status"] == "failed" and failed["frames"] == 0
    assert "stage 'cam' (capture)" in failed["error"] and "\n" not in failed["error"]
