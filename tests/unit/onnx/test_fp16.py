"""fp16 copies of every shipped model, checked through the CPU provider against fp32 (floors in
export/fp16.py); the same check runs on CUDA in tests/gpu/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.fp16 import FP16_PSNR_FLOOR, compare, to_fp16
from streamer.onnx import OnnxSession
from tests.helpers_gpu import feeds_for, shipped_models

MODELS = shipped_models()


@pytest.fixture(scope="module")
def fp16_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fp16")


def test_models_are_shipped() -> None:
    names = {p.stem for p in MODELS}
    assert {"face_drawing", "cartoon", "embedder", "deepfake", "predictor"} <= names


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_fp16_matches_fp32_on_cpu(path: Path, fp16_dir: Path) -> None:
    half = to_fp16(path, fp16_dir / f"{path.stem}_fp16.onnx")
    fp32 = OnnxSession(path, providers=["cpu"], threads=1)
    fp16 = OnnxSession(half, providers=["cpu"], threads=1)
    assert [(a.name, a.type) for a in fp16.inputs] == [(a.name, a.type) for a in fp32.inputs]
    assert [(a.name, a.type) for a in fp16.outputs] == [(a.name, a.type) for a in fp32.outputs]
    if fp32.record is not None:
        assert fp16.record is not None and fp16.record.precision == "fp16"
        assert fp16.record.family == fp32.record.family
    feeds = feeds_for(fp32.inputs, size=64, batch=2)
    assert compare(fp32.run_raw(feeds), fp16.run_raw(feeds)) == {}


def test_compare_catches_an_output_beyond_the_floor() -> None:
    a = np.random.default_rng(0).integers(0, 250, (1, 32, 32, 3), dtype=np.uint8)
    assert compare({"image_out": a}, {"image_out": a}) == {}
    off = compare({"image_out": a}, {"image_out": a + 3})
    assert "max 3 levels" in off["image_out"] and f"floor {FP16_PSNR_FLOOR:g} dB" in off["image_out"]
    e = np.ones((2, 128), np.float32)
    assert "max difference" in compare({"embedding": e}, {"embedding": e + 0.02})["embedding"]
    assert "expected" in compare({"embedding": e}, {"embedding": e[:1]})["embedding"]
