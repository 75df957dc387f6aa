"""streamer/onnx/providers.py: provider names, the cheap GPU checks, and what happens when a
provider asked for cannot be used (via OnnxModel, which creates the session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import StreamerError
from streamer.onnx import providers
from streamer.onnx_model import CPU, CUDA, ModelError, OnnxModel, gpu_problem, normalize_providers
from tests.unit.onnx.conftest import NO_GPU
from tests.unit.onnx.conftest import one_line as _one_line


def test_normalize_providers() -> None:
    assert normalize_providers(None) is None
    assert normalize_providers(["auto"]) is None
    assert normalize_providers(["CUDA", "cpu", "cuda"]) == [CUDA, CPU]
    assert normalize_providers(["trt"]) == ["TensorrtExecutionProvider"]
    with pytest.raises(ValueError, match="unknown provider 'gpu'"):
        normalize_providers(["gpu"])


@pytest.mark.skipif(not NO_GPU, reason="this machine has a usable CUDA GPU")
def test_auto_falls_back_to_cpu_and_says_why(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"], threads=2, name="style")
    assert model.providers[0] == CPU and not model.on_device
    line = model.describe()
    assert line.startswith(f"{models['ours']} on CPUExecutionProvider")
    assert "2 threads" in line
    import onnxruntime

    if CUDA in onnxruntime.get_available_providers():
        assert f"(CUDA not usable: {gpu_problem(CUDA)})" in line
    assert "\n" not in line


@pytest.mark.skipif(not NO_GPU, reason="this machine has a usable CUDA GPU")
def test_explicit_cuda_without_gpu_is_an_error(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["ours"], providers=["cuda"], name="style")
    msg = _one_line(e)
    assert str(models["ours"]) in msg and "CUDAExecutionProvider" in msg
    assert "--set style.providers=[cpu]" in msg
    assert isinstance(e.value, StreamerError)


def test_silent_session_fallback_is_caught(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the cheap check passes: onnxruntime then falls back to CPU on its own (here, with
    no GPU, it really does), which must be an error when CUDA was asked for, a note in auto."""
    if not NO_GPU:
        pytest.skip("CUDA really works here")
    import onnxruntime

    if CUDA not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has no CUDA provider to fall back from")
    monkeypatch.setattr(providers, "gpu_problem", lambda provider: None)
    with pytest.raises(
        ModelError, match=r"left it out when creating the session \(running on CPUExecutionProvider\)"
    ) as e:
        OnnxModel(models["ours"], providers=["cuda"], name="style")
    _one_line(e)
    auto = OnnxModel(models["ours"], name="style")
    assert auto.providers[0] == CPU
    assert "CUDA not usable: onnxruntime left it out" in auto.describe()


def test_explicit_cpu(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"], providers=["cpu"], threads=1)
    assert model.requested == [CPU] and model.providers == [CPU]
    assert model.notes == []
    assert "1 thread," in model.describe()


def test_unknown_provider_is_one_line(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["ours"], providers=["gpu"], name="style")
    assert _one_line(e).startswith("style: unknown provider 'gpu'")
    with pytest.raises(ModelError, match="not in this onnxruntime") as e:
        OnnxModel(models["ours"], providers=["CoreMLExecutionProvider"])
    _one_line(e)
