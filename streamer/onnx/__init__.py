"""The one place that talks to onnxruntime (DESIGN rule 4), split by job:

- :mod:`~streamer.onnx.providers`: which execution providers can really run here;
- :mod:`~streamer.onnx.session`: the session, its metadata record, ``run_raw`` and IO binding;
- :mod:`~streamer.onnx.preprocess`: one resolver for how pictures enter a foreign model;
- :mod:`~streamer.onnx.adapter`: :class:`OnnxModel`, the image adapter of image-to-image models.

Importing this package does not import onnxruntime; opening a model does.
"""

from __future__ import annotations

from streamer.model_contract import MetadataError, ModelError
from streamer.onnx.adapter import OnnxModel, bins_up_to, run_in_bins
from streamer.onnx.preprocess import Preprocess, PreprocessParams, resolve, square_size
from streamer.onnx.providers import CPU, CUDA, GPU_PROVIDERS, TENSORRT, gpu_problem, normalize_providers
from streamer.onnx.session import ModelInfo, OnnxSession, is_ortvalue

__all__ = [
    "CPU",
    "CUDA",
    "GPU_PROVIDERS",
    "TENSORRT",
    "MetadataError",
    "ModelError",
    "ModelInfo",
    "OnnxModel",
    "OnnxSession",
    "Preprocess",
    "PreprocessParams",
    "bins_up_to",
    "gpu_problem",
    "is_ortvalue",
    "normalize_providers",
    "resolve",
    "run_in_bins",
    "square_size",
]
