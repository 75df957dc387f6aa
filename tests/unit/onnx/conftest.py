"""Shared test models for the onnxruntime layer (``streamer/onnx/``): tiny nets from tests/helpers_onnx.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.onnx.providers import CUDA, gpu_problem
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


def images(n: int = 2, h: int = 33, w: int = 47, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg
