"""A CUDA failure at open time is one line, never a silent CPU fallback (testable on CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamer.model_contract import ModelError
from streamer.onnx import OnnxModel
from streamer.onnx import providers as P
from tests.unit.onnx.conftest import NO_GPU, one_line

ROOT = Path(__file__).resolve().parents[3]


def _failing_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cheap check passes and onnxruntime then fails to start CUDA (as an out-of-memory or a
    toolkit mismatch does on a GPU machine)."""
    ort = P.ort()
    real = ort.InferenceSession

    def session(path: str, sess_options: Any = None, providers: Any = None) -> Any:
        names = [p if isinstance(p, str) else p[0] for p in providers or []]
        if P.CUDA in names:
            raise RuntimeError("CUDA failure 2: out of memory ; GPU=0 ; hostname=x\nmore lines")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(P, "gpu_problem", lambda provider: None)
    monkeypatch.setattr(ort, "get_available_providers", lambda: [P.CUDA, P.CPU])
    monkeypatch.setattr(ort, "InferenceSession", session)


def test_cuda_failing_to_start_is_one_line_when_asked_for(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_cuda(monkeypatch)
    with pytest.raises(ModelError) as e:
        OnnxModel(models["ours"], providers=["cuda"], name="style")
    msg = one_line(e)
    assert "CUDAExecutionProvider was asked for but cannot be used" in msg
    assert "out of memory" in msg and "--set style.providers=[cpu]" in msg
    assert "not a valid ONNX model" not in msg


def test_cuda_failing_to_start_in_auto_mode_runs_on_cpu_and_says_so(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_cuda(monkeypatch)
    model = OnnxModel(models["ours"], name="style")
    assert model.providers == [P.CPU] and not model.on_device
    assert (
        "CUDA not usable: creating the session on it failed (CUDA failure 2: out of memory"
        in model.describe()
    )


def test_a_bad_file_is_still_a_bad_file_with_cuda_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_cuda(monkeypatch)
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        OnnxModel(bad, providers=["cuda"])


@pytest.mark.skipif(not NO_GPU, reason="this machine has a usable CUDA GPU")
def test_run_with_providers_cuda_is_one_line_on_a_machine_without_gpu(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamer",
            "run",
            "graphs/file_stylize.yaml",
            "--set",
            "style.providers=[cuda]",
            "--set",
            f"out.path={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        "stage 'style'" in errors[0] and "CUDAExecutionProvider was asked for but cannot be used" in errors[0]
    )
    assert not out.exists()
