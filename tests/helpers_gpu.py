"""Inputs for any shipped model, built from its own input list (real photo pixels, numbers that
make sense): shared by the fp16 tests, the GPU tests and ``benchmarks/gpu.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def shipped_models() -> list[Path]:
    """Every fp32 model in ``models/`` (int8 copies are CPU-only variants, left out)."""
    return sorted(p for p in MODELS.glob("*.onnx") if not p.stem.endswith(("_int8", "_fp16")))


def photo(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """``n`` crops of a real photo (skimage's astronaut; cv2-resized when larger), uint8 [n, h, w, 3]."""
    import cv2
    from skimage import data

    astro = data.astronaut()
    if h > 400 or w > 400:
        astro = cv2.resize(astro, (max(w + 64, 512), max(h + 64, 512)), interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = int(rng.integers(0, astro.shape[0] - h + 1))
        x = int(rng.integers(0, astro.shape[1] - w + 1))
        out.append(astro[y : y + h, x : x + w])
    return np.ascontiguousarray(np.stack(out))


def feeds_for(inputs: list[Any], *, size: int = 64, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Feeds for a session's ``inputs`` (each with .name, .type, .shape): fixed dimensions as the
    model says, dynamic H/W = ``size`` (the predictor's ``state`` at 1/4 of it), N = ``batch``."""
    feeds: dict[str, np.ndarray] = {}
    for i, arg in enumerate(inputs):
        shape = list(arg.shape)
        if arg.type == "tensor(uint8)" and len(shape) == 4:
            h = shape[1] if isinstance(shape[1], int) else size
            w = shape[2] if isinstance(shape[2], int) else size
            feeds[arg.name] = photo(batch, h, w, seed=seed + i)
        elif arg.name == "state":
            feeds[arg.name] = np.random.default_rng(seed).normal(
                0, 0.05, (batch, shape[1], size // 4, size // 4)
            )
            feeds[arg.name] = feeds[arg.name].astype(np.float32)
        elif arg.name == "span":
            feeds[arg.name] = np.full(batch, 2.0, np.float32)
        elif arg.name == "lag":
            feeds[arg.name] = np.full(batch, 1.0, np.float32)
        else:
            dims = [d if isinstance(d, int) else (batch if j == 0 else size) for j, d in enumerate(shape)]
            feeds[arg.name] = np.random.default_rng(seed).random(dims, dtype=np.float32)
    return feeds
