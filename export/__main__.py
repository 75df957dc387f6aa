"""``python -m export FAMILY --checkpoint PATH --out OUT.onnx [--fp16 | --int8 --calibration CLIP]
[--allow-unchecked]`` and ``python -m export list``.

Exit code 0 on success; otherwise one line on stderr and exit code 1 (a traceback only with
``--debug``), as DESIGN 3.4 requires.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage block is for --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see python -m export --help)\n")


def _parser(names: list[str]) -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m export",
        description="Export a PyTorch checkpoint to a streamer ONNX model (uint8 NHWC RGB in and out).",
        epilog="`python -m export list` shows the families.",
    )
    p.add_argument("family", help=f"model family: {', '.join(names)} (or `list`)")
    p.add_argument("--checkpoint", required=True, help="the .pth/.pt file of the original project")
    p.add_argument("--out", required=True, help="output .onnx path (written only if all checks pass)")
    variant = p.add_mutually_exclusive_group()
    variant.add_argument("--fp16", action="store_true", help="half-precision variant for GPUs")
    variant.add_argument(
        "--int8", action="store_true", help="static int8 (QDQ) variant for CPUs; needs --calibration"
    )
    p.add_argument("--calibration", help="video clip, image or folder of images for --int8 calibration")
    p.add_argument(
        "--calibration-frames", type=int, default=8, help="frames read for calibration (default 8)"
    )
    p.add_argument("--preferred-size", type=int, help="override the family's preferred size in the metadata")
    p.add_argument(
        "--allow-unchecked",
        action="store_true",
        help="write an --int8/--fp16 variant even if it misses its parity floor against the fp32 model "
        "(>= 30 dB PSNR int8, >= 40 dB fp16 on real frames) or cannot be checked here; warns",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# PyTorch's OpenMP workers spin while waiting; on a small shared machine that made a 2-thread
# training step 6x slower than 1 thread. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Models the project trains itself (`python -m export NAME --help`), in the order `defaults`
# runs them: later ones use earlier ones (deepfake and predictor use the cartoon generator).
TRAINED: dict[str, tuple[str, str]] = {
    "siamese": ("export.train_siamese", "face embedder for verify (models/embedder.onnx)"),
    "cartoon": ("export.train_cartoon", "whole-frame cartoon style (models/cartoon.onnx)"),
    "face-drawing": (
        "export.train_face_drawing",
        "face photo <-> drawing CycleGAN (models/face_drawing*.onnx)",
    ),
    "deepfake": ("export.train_deepfake", "face manipulation detector (models/deepfake.onnx)"),
    "predictor": ("export.train_predictor", "recurrent frame predictor (models/predictor.onnx)"),
}


# Families read from another framework's own file format (no PyTorch checkpoint).
CONVERTED: dict[str, tuple[str, str]] = {
    "dlib-resnet": (
        "export.export_dlib",
        "dlib's ResNet face descriptor (.dat) -> face embedder (models/face_embedder.onnx)",
    ),
}


def _converter(name: str) -> Callable[[list[str]], int]:
    import importlib

    module: Any = importlib.import_module(CONVERTED[name][0])
    return module.main  # type: ignore[no-any-return]


def _trainer(name: str) -> Callable[[list[str]], int]:
    import importlib

    module: Any = importlib.import_module(TRAINED[name][0])
    return module.main  # type: ignore[no-any-return]


def _defaults(argv: list[str]) -> int:
    """Train and export every default model with fixed seeds: ``python -m export defaults [--quick]
    [--out-dir models] [--seed 0] [--only NAME ...]``."""
    p = _Parser(prog="python -m export defaults", description=_defaults.__doc__)
    p.add_argument("--quick", action="store_true", help="short runs (for tests); not the committed models")
    p.add_argument("--out-dir", default="models", help="where the .onnx files go (default models/)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=list(TRAINED), help="train only these")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    outputs = {
        "siamese": ["--out", str(out / "embedder.onnx")],
        "cartoon": ["--out", str(out / "cartoon.onnx")],
        "face-drawing": ["--out-dir", str(out)],
        "deepfake": ["--out", str(out / "deepfake.onnx")],
        "predictor": ["--out", str(out / "predictor.onnx")],
    }
    for name in args.only or list(TRAINED):
        extra = ["--seed", str(args.seed)] + (["--quick"] if args.quick else [])
        print(f"== python -m export {name} {' '.join(outputs[name] + extra)}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        rc = _trainer(name)(outputs[name] + extra)
        if rc != 0:
            print(
                f"error: python -m export {name} failed (exit {rc}); later models not trained",
                file=sys.stderr,
            )
            return rc
        print(f"== {name}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return 0


def _list() -> int:
    from export.registry import families

    fams = families()
    width = max(len(n) for n in fams)
    for name, fam in fams.items():
        i = fam.info
        print(
            f"{name:<{width}}  {i.task:<15} size x{i.size_multiple:<2} pref {i.preferred_size:<4} {i.summary}"
        )
    print("\nconverted from another framework's file (`python -m export NAME --help`):")
    for name, (_, summary) in CONVERTED.items():
        print(f"  {name:<13} {summary}")
    print("\ntrained by the project (no checkpoint; `python -m export defaults` runs them all):")
    for name, (_, summary) in TRAINED.items():
        print(f"  {name:<13} {summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "list":
            return _list()
        if argv and argv[0] == "defaults":
            return _defaults(argv[1:])
        if argv and argv[0] in CONVERTED:  # converted from another framework's own file format
            return _converter(argv[0])(argv[1:])
        if argv and argv[0] in TRAINED:  # trained here from data built offline, no checkpoint
            return _trainer(argv[0])(argv[1:])
        from export.registry import families

        args = _parser(list(families())).parse_args(argv)
        from export.exporter import export_model

        export_model(
            args.family,
            args.checkpoint,
            args.out,
            fp16=args.fp16,
            int8=args.int8,
            calibration=args.calibration,
            calibration_frames=args.calibration_frames,
            preferred_size=args.preferred_size,
            allow_unchecked=args.allow_unchecked,
        )
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (one line for every failure; the traceback only with --debug)
        from export.errors import ExportError

        if debug:
            traceback.print_exc()
        msg = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
        print(f"error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
