"""What the project's trainers (``python -m export cartoon|siamese|deepfake|predictor|...``) share:
seeding, checking the output path before hours of training, and the command line of the trainers
whose whole job is "train with this seed, export to --out, optionally dump the measurements"."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from export.errors import ExportError


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (data, initialisation, batches)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_out(out: str | Path, *, suffix: str | None = ".onnx") -> Path:
    """``out`` as a Path, after the checks a long training must not fail at its very end: the
    suffix (``--out x`` without ``.onnx``) and an existing parent folder. One-line ExportError."""
    out = Path(out)
    if suffix is not None and out.suffix != suffix:
        raise ExportError(f"--out {out} must end in {suffix}")
    if not out.parent.is_dir():
        raise ExportError(f"output folder {out.parent} does not exist: create it first")
    return out


def seeded_trainer_main(
    argv: list[str] | None,
    *,
    command: str,
    description: str,
    default_out: str,
    quick_help: str,
    run: Callable[..., Any],
) -> int:
    """``python -m export COMMAND [--out PATH] [--quick] [--seed N] [--metrics JSON]``: calls
    ``run(out, seed=, quick=)``, which returns a dataclass of measurements (written to --metrics)."""
    p = argparse.ArgumentParser(prog=f"python -m export {command}", description=description)
    p.add_argument("--out", default=default_out, help=f"output .onnx (default {default_out})")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batches (default 0)")
    p.add_argument("--metrics", help="also write the measurements as JSON to this path")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    report = run(Path(args.out), seed=args.seed, quick=args.quick)
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0
