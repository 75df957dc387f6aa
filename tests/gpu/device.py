"""Where the GPU tests run: CUDA, or the CPU provider with IO binding in a dry run
(``STREAMER_GPU_DRY=1``, see conftest.py)."""

from __future__ import annotations

import os

DRY = os.environ.get("STREAMER_GPU_DRY", "") not in ("", "0")
#: the provider the tests ask for, and the device name their OrtValues must report
PROVIDER = "cpu" if DRY else "cuda"
DEVICE = "cpu" if DRY else "cuda"
FULL = "CPUExecutionProvider" if DRY else "CUDAExecutionProvider"
#: OnnxSession/OnnxModel keyword: binding is on by itself under CUDA, forced in the dry run
BIND = {"io_binding": True}
