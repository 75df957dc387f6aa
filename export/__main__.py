"""``python -m export FAMILY --checkpoint PATH --out OUT.onnx [--fp16 | --int8 --calibration CLIP]``
and ``python -m export list``.

Exit code 0 on success; otherwise one line on stderr and exit code 1 (a traceback only with
``--debug``), as DESIGN 3.4 requires.
"""

from __future__ import annotations

import argparse
import sys
import traceback


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
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _list() -> int:
    from export.registry import families

    fams = families()
    width = max(len(n) for n in fams)
    for name, fam in fams.items():
        i = fam.info
        print(
            f"{name:<{width}}  {i.task:<15} size x{i.size_multiple:<2} pref {i.preferred_size:<4} {i.summary}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "list":
            return _list()
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
