"""GPU tests: every test here is marked ``gpu`` (deselected by default; ``-m gpu`` runs them) and
skipped, with the reason, where CUDA cannot run (no driver, no device, no onnxruntime-gpu).

``STREAMER_GPU_DRY=1`` runs the same tests on the CPU provider with IO binding forced on
(OrtValues on "cpu"): a dry run that proves the test code itself on a machine without a GPU
(``benchmarks/gpu.py --cpu`` does it); tests of NVDEC/NVENC skip then."""

from __future__ import annotations

import os

import pytest

from streamer.onnx.providers import CUDA, gpu_problem
from tests.gpu.device import DRY

if os.environ.get("STREAMER_PRELOAD_CUDA"):  # benchmarks/gpu.py --install: torch's CUDA libraries
    import onnxruntime

    onnxruntime.preload_dlls()
    try:
        import torch  # noqa: F401 - its CUDA libraries, loaded globally, serve onnxruntime too
    except ImportError:
        pass


def cuda_problem() -> str | None:
    """Why CUDAExecutionProvider cannot run here, or None."""
    try:
        return gpu_problem(CUDA)
    except Exception as e:  # noqa: BLE001 - no onnxruntime at all
        return f"onnxruntime unusable ({e})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = cuda_problem()
    for item in items:
        if "tests/gpu/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.gpu)
            if problem is not None and not DRY:
                item.add_marker(pytest.mark.skip(reason=f"needs CUDA: {problem}"))
