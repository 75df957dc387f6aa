from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from streamer.onnx import providers
from streamer.errors import StreamerError
from streamer.onnx_model import CPU, CUDA, ModelError, OnnxModel, gpu_problem, normalize_providers
from tests import helpers_onnx as H

NO_GPU = gpu_problem(CUDA) is not None


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {
        "ours": H.ours(d / "ours.onnx"),
        "mult4": H.multiple(d / "mult4.onnx"),
        "foreign": H.foreign(d / "foreign.onnx"),
        "foreign_nhwc01": H.foreign(d / "foreign_nhwc01.onnx", layout="nhwc", rng=(0.0, 1.0)),
        "foreign_bgr": H.foreign(d / "foreign_bgr.onnx", bgr=True, rng=(0.0, 255.0)),
        "foreign_fixed": H.foreign(d / "foreign_fixed.onnx", fixed=32),
        "embedding": H.embedding(d / "embedding.onnx"),
        "float_meta": H.float_input_with_meta(d / "float_meta.onnx"),
    }


def _images(n: int = 2, h: int = 33, w: int = 47, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg


# ------------------------------------------------------------------ running


def test_run_matches_torch(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"], providers=["cpu"])
    x = _images()
    before = x.copy()
    y = model.run(x)
    assert y.dtype == np.uint8 and y.shape == x.shape
    ref = H.torch_reference("ours", x)
    assert np.abs(y.astype(int) - ref).max() <= 1
    assert np.abs(y.astype(int) - x).mean() > 5  # the net really changes the picture
    np.testing.assert_array_equal(x, before)


def test_metadata_is_read(models: dict[str, Path]) -> None:
    info = OnnxModel(models["mult4"]).info
    assert not info.foreign
    assert (info.family, info.task, info.size_multiple, info.preferred_size) == (
        "test-mult4",
        "image-to-image",
        4,
        32,
    )
    assert info.input_range == "-1..1" and info.streamer_format == "1"  # the contract spelling
    assert OnnxModel(models["foreign"], input_range="-1,1").info.foreign


def test_padding_to_size_multiple(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"], providers=["cpu"])
    x = _images(2, 30, 45)
    # the raw session cannot take this size: padding is what makes it work
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's own error type
        model.session.run(None, {"image": x})
    y = model.run(x)
    assert y.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 2), (0, 3), (0, 0)), mode="reflect")
    direct = model.session.run(None, {"image": padded})[0][:, :30, :45]
    np.testing.assert_array_equal(y, direct)
    # and on a size that is already a multiple it is the torch module exactly
    x4 = _images(1, 32, 48)
    assert np.abs(model.run(x4).astype(int) - H.torch_reference("multiple", x4)).max() <= 1


def test_padding_tiny_image_uses_edge(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"], providers=["cpu"])
    x = _images(1, 2, 3)  # pad of 2/1 rows/cols: reflect impossible for H=2
    assert model.run(x).shape == (1, 2, 3, 3)


def test_warmup_and_preferred_size(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"])
    assert model.preferred_size() == 32
    assert model.round_size(30) == 32 and model.round_size(1) == 4
    model.warmup()
    model.warmup((20, 28))


def test_run_rejects_bad_arrays(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"])
    with pytest.raises(ValueError, match=r"expected uint8 array \[N, H, W, 3\], got float32"):
        model.run(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="got uint8"):
        model.run(np.zeros((8, 8, 3), np.uint8))


# ------------------------------------------------------------------ providers


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


# ------------------------------------------------------------------ bad files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(tmp_path / "nope.onnx")
    msg = _one_line(e)
    assert "not found" in msg and "nope.onnx" in msg
    with pytest.raises(ModelError, match="is a folder"):
        OnnxModel(tmp_path)


def test_corrupt_files(tmp_path: Path, models: dict[str, Path]) -> None:
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n" * 10)
    truncated = tmp_path / "truncated.onnx"
    data = models["ours"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path in (text, truncated):
        with pytest.raises(ModelError) as e:
            OnnxModel(path)
        msg = _one_line(e)
        assert msg.startswith(f"{path}: not a valid ONNX model")


def test_newer_streamer_format(tmp_path: Path) -> None:
    path = H.ours(tmp_path / "v2.onnx", meta={"streamer_format": "2"})
    with pytest.raises(ModelError, match="streamer_format '2' is not supported") as e:
        OnnxModel(path)
    _one_line(e)


def test_bad_metadata_number(tmp_path: Path) -> None:
    path = H.ours(tmp_path / "badmeta.onnx", meta={"size_multiple": "four"})
    with pytest.raises(ModelError, match="size_multiple='four', expected a whole number"):
        OnnxModel(path)


def test_mismatched_outputs(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["embedding"])
    msg = _one_line(e)
    assert str(models["embedding"]) in msg
    assert "expected an image output uint8 [N, H, W, 3]" in msg and "'embedding' tensor(float)" in msg


def test_mismatched_inputs(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["float_meta"])
    msg = _one_line(e)
    assert "expected input 'image' uint8 [N, H, W, 3], got 'image' tensor(float)" in msg


def test_run_raw_for_other_models(models: dict[str, Path]) -> None:
    model = OnnxModel(models["embedding"], kind="any")
    x = _images(3, 10, 12)
    out = model.run_raw({"image": x})
    assert list(out) == ["embedding"] and out["embedding"].shape == (3, 8)
    mean = x.astype(np.float32).mean(axis=(1, 2))
    np.testing.assert_allclose(out["embedding"][:, :3], mean, rtol=1e-5)
    with pytest.raises(ModelError, match=r"expected inputs \['image'\], got \['x'\]"):
        model.run_raw({"x": x})
    with pytest.raises(ModelError, match="needs an image model"):
        model.run(x)


# ------------------------------------------------------------------ foreign models


def test_foreign_nchw_equals_ours(models: dict[str, Path]) -> None:
    ours = OnnxModel(models["ours"]).run(_images())
    foreign = OnnxModel(models["foreign"], input_range="-1,1")
    assert foreign.layout == "nchw"  # read from the shape [N, 3, H, W]
    assert np.abs(foreign.run(_images()).astype(int) - ours).max() <= 1


def test_foreign_nhwc_01_and_bgr_equal_ours(models: dict[str, Path]) -> None:
    x = _images(1, 40, 24, seed=3)
    ours = OnnxModel(models["ours"]).run(x).astype(int)
    nhwc = OnnxModel(models["foreign_nhwc01"], input_range="0..1", layout="nhwc")
    assert np.abs(nhwc.run(x).astype(int) - ours).max() <= 1
    bgr = OnnxModel(models["foreign_bgr"], input_range="0,255", channel_order="bgr")
    assert np.abs(bgr.run(x).astype(int) - ours).max() <= 1
    # the wrong channel order gives a different picture: the parameter matters
    wrong = OnnxModel(models["foreign_bgr"], input_range="0,255", channel_order="rgb")
    assert np.abs(wrong.run(x).astype(int) - ours).max() > 20


def test_foreign_fixed_size_is_resized(models: dict[str, Path]) -> None:
    import cv2

    model = OnnxModel(models["foreign_fixed"], input_range="-1,1")
    assert model.fixed_size == (32, 32) and model.preferred_size() == 32
    x = _images(2, 48, 40)
    y = model.run(x)
    assert y.shape == x.shape
    small = cv2.resize(x[1], (32, 32), interpolation=cv2.INTER_AREA)
    expect = cv2.resize(
        OnnxModel(models["ours"]).run(small[None])[0], (40, 48), interpolation=cv2.INTER_LINEAR
    )
    assert np.abs(y[1].astype(int) - expect).max() <= 2


def test_foreign_needs_input_range(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["foreign"])
    msg = _one_line(e)
    assert "no streamer metadata" in msg and "set input_range" in msg


def test_foreign_params_rejected_for_ours(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["ours"], layout="nchw", input_range="-1,1")
    msg = _one_line(e)
    assert "input_range, layout given" in msg and "metadata" in msg


def test_model_file_is_valid_onnx(models: dict[str, Path]) -> None:
    """The helper's models carry the metadata keys of DESIGN 3.2."""
    props = {p.key: p.value for p in onnx.load(str(models["ours"])).metadata_props}
    assert {"family", "task", "size_multiple", "preferred_size", "input_range", "source"} <= set(props)


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason=f"no usable CUDA here: {gpu_problem(CUDA)}")
def test_cuda_io_binding_matches_cpu(models: dict[str, Path]) -> None:
    """On a GPU machine: IO binding with reused device buffers gives the CPU result, also when
    the shape changes between calls and back."""
    cpu = OnnxModel(models["mult4"], providers=["cpu"])
    gpu = OnnxModel(models["mult4"], providers=["cuda"])
    assert gpu.on_device and gpu.providers[0] == CUDA
    for x in (_images(2, 30, 45), _images(2, 30, 45, seed=1), _images(1, 64, 32), _images(2, 30, 45, seed=2)):
        assert np.abs(gpu.run(x).astype(int) - cpu.run(x)).max() <= 1
    emb = OnnxModel(models["embedding"], providers=["cuda"], kind="any")
    x = _images(3, 10, 12)
    np.testing.assert_allclose(
        emb.run_raw({"image": x})["embedding"],
        OnnxModel(models["embedding"], providers=["cpu"], kind="any").run_raw({"image": x})["embedding"],
        rtol=1e-4,
    )
