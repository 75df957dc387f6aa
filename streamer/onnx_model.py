"""Compatibility re-export: the onnxruntime layer now lives in :mod:`streamer.onnx`.

``from streamer.onnx_model import OnnxModel, ModelError, ...`` keeps working; new code imports
from :mod:`streamer.onnx` (providers, session, preprocess, adapter) or, for names and metadata,
from :mod:`streamer.model_contract`.
"""

from __future__ import annotations

from typing import Literal

from streamer.model_contract import STREAMER_FORMAT, MetadataError, ModelError, canonical_range
from streamer.onnx.adapter import OnnxModel
from streamer.onnx.preprocess import ChannelOrder, Layout
from streamer.onnx.providers import (
    CPU,
    CUDA,
    GPU_PROVIDERS,
    SHORT_NAMES,
    TENSORRT,
    gpu_problem,
    normalize_providers,
)
from streamer.onnx.session import ModelInfo, OnnxSession

InputRange = Literal["0..1", "-1..1", "0..255"]


def normalize_range(value: str) -> str:
    """``"-1,1"``, ``"-1, 1"`` and ``"-1..1"`` all become the contract's ``"-1..1"``."""
    return canonical_range(value)


__all__ = [
    "CPU",
    "CUDA",
    "GPU_PROVIDERS",
    "SHORT_NAMES",
    "STREAMER_FORMAT",
    "TENSORRT",
    "ChannelOrder",
    "InputRange",
    "Layout",
    "MetadataError",
    "ModelError",
    "ModelInfo",
    "OnnxModel",
    "OnnxSession",
    "gpu_problem",
    "normalize_providers",
    "normalize_range",
]
