"""Every shipped model on CUDAExecutionProvider with IO binding, fp32 and fp16, against CPU fp32.

Tolerances (``export/fp16.py``): uint8 pictures >= 40 dB PSNR and at most 2 levels off; float
outputs within 1 % of their largest magnitude. fp32 on CUDA uses the same floors as fp16 (cuDNN
picks other convolution algorithms than MLAS). fp16 on CUDA: float outputs within 2 % (cuDNN's fp16
convolutions round differently from the CPU provider's fp16: on an H200 the predictor's flow came
out 1.02 % off, 0.165 px of 16 px, while its CPU fp16 copy keeps within 1 %)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.fp16 import compare, to_fp16
from streamer.onnx import OnnxModel, OnnxSession, is_ortvalue
from tests.gpu.device import BIND, DEVICE, FULL, PROVIDER
from tests.helpers_gpu import MODELS, feeds_for, shipped_models

SHIPPED = shipped_models()
#: float outputs of fp16 models on CUDA: within this fraction of their largest magnitude
CUDA_FP16_FLOAT_REL = 0.02
IDS = [p.stem for p in SHIPPED]


@pytest.fixture(scope="module")
def fp16_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fp16_gpu")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("path", SHIPPED, ids=IDS)
def test_model_on_cuda_with_io_binding_matches_cpu(path: Path, precision: str, fp16_dir: Path) -> None:
    model = path if precision == "fp32" else to_fp16(path, fp16_dir / f"{path.stem}_fp16.onnx")
    gpu = OnnxSession(model, providers=[PROVIDER], name="gpu", **BIND)
    # asserted from the session's own providers, not from what was asked for
    assert gpu.session.get_providers()[0] == FULL and gpu.providers[0] == FULL
    assert gpu.binds and gpu.device == DEVICE
    cpu = OnnxSession(path, providers=["cpu"])
    for size, batch in ((64, 1), (96, 2)):
        feeds = feeds_for(cpu.inputs, size=size, batch=batch, seed=size)
        got = gpu.run_raw(feeds)
        assert all(isinstance(v, np.ndarray) for v in got.values())
        rel = CUDA_FP16_FLOAT_REL if precision == "fp16" and DEVICE == "cuda" else None
        assert compare(cpu.run_raw(feeds), got, float_rel=rel) == {}, (path.name, precision, size)


def test_image_adapter_reuses_device_buffers() -> None:
    model = OnnxModel(MODELS / "face_drawing.onnx", providers=[PROVIDER], **BIND)
    x = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    first, second = model.run(x), model.run(x)  # second: into the preallocated output buffer
    np.testing.assert_array_equal(first, second)
    shape, value = model._bound_out
    assert shape == x.shape and value.device_name().lower() == DEVICE
    bound = model._bound_in["image"]
    assert bound.device_name().lower() == DEVICE
    third = model.run(np.ascontiguousarray(x[::-1]))
    assert model._bound_in["image"] is bound  # same shape: the device buffer is updated in place
    np.testing.assert_array_equal(third, first[::-1])
    np.testing.assert_array_equal(second, first)  # earlier results are host copies, not views


def test_kept_outputs_stay_on_the_device_and_feed_back() -> None:
    gpu = OnnxSession(MODELS / "predictor.onnx", providers=[PROVIDER], **BIND)
    cpu = OnnxSession(MODELS / "predictor.onnx", providers=["cpu"])
    feeds = feeds_for(cpu.inputs, size=64)
    state = gpu.run_bound(feeds, keep=["state_out"])["state_out"]
    assert is_ortvalue(state) and state.device_name().lower() == DEVICE
    again = gpu.run_bound(dict(feeds, state=state), keep=["state_out"])  # no host copy of the state
    want = cpu.run_raw(dict(feeds, state=cpu.run_raw(feeds)["state_out"]))
    got = {k: (v.numpy() if is_ortvalue(v) else v) for k, v in again.items()}
    assert compare(want, got) == {}
