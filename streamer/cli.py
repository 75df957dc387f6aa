"""The `streamer` command: run, check, stages, bench, enroll, models.

Exit status 0 on success; non-zero with one line on stderr otherwise (a traceback only with
--debug). A run stopped by SIGINT/SIGTERM finalises its outputs and exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer import __version__
from streamer.errors import StreamerError


def _add_graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="STAGE.KEY=VALUE",
        help="override a stage parameter (value parsed as YAML), e.g. --set cam.uri=samples/one_face.mp4",
    )
    p.add_argument("--mode", choices=["live", "offline"], help="override the graph's mode")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Real-time video pipelines of ONNX models, described as YAML graphs.",
    )
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a graph")
    p.add_argument("graph", type=Path)
    _add_graph_args(p)
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N source frames")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="pace file sources at their own frame rate, as a camera, in live mode unless --mode offline",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the run's metrics as JSON")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit with an error when an input ends before its container says (a truncated file)",
    )
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("check", help="validate graphs without running them")
    p.add_argument("graphs", type=Path, nargs="+")
    _add_graph_args(p)
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("stages", help="list stage types with their parameters")
    p.add_argument("types", nargs="*", help="only these stage types")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("bench", help="measure each stage alone, the pipeline, and a naive loop")
    p.add_argument("graph", type=Path)
    _add_graph_args(p)
    p.add_argument("--frames", type=int, default=300, help="frames to measure (default 300)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are reported")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("enroll", help="add a person to a face gallery from one or more photos")
    p.add_argument("--gallery", type=Path, required=True, help="gallery file (created if absent)")
    p.add_argument("--name", required=True, help="the person's name")
    p.add_argument("images", type=Path, nargs="+", help="photos of the person (one is enough)")
    p.add_argument(
        "--model",
        type=Path,
        default=Path("models/face_embedder.onnx"),
        help="face embedder ONNX (default: dlib's ResNet, built by `python -m export dlib-resnet`)",
    )
    p.add_argument("--threshold", type=float, help="cosine distance threshold stored in the gallery")
    p.add_argument(
        "--replace", action="store_true", help="replace an enrolled name instead of adding these photos to it"
    )
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("models", help="list or fetch the model files face detection needs")
    p.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    p.add_argument("names", nargs="*", help="models to pull (default: all)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def type_name(annotation: Any) -> str:
    """A short readable name for a parameter type: int, str | None, copy|drop, list[str]."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default_io(cls: Any) -> Any:
    """A stage type's reads/writes with its default params (None when they need real values)."""
    try:
        return cls.io(cls.Params.model_construct())
    except Exception:  # noqa: BLE001 - listing must never fail
        return None


def describe_stages(only: Sequence[str] = ()) -> str:
    from streamer.stages.base import StageParams, load_all, summary_line

    stages = load_all()
    unknown = [t for t in only if t not in stages]
    if unknown:
        raise StreamerError(
            f"unknown stage type '{unknown[0]}'; expected one of: {', '.join(sorted(stages))}"
        )
    out: list[str] = []
    common = set(StageParams.model_fields)
    for name in sorted(only or stages):
        cls = stages[name]
        out.append(f"{name} ({cls.role}): {summary_line(cls)}")
        io = _default_io(cls)
        if io is not None and (io.reads or io.uses or io.writes):
            parts = [
                f"{label} {', '.join(sorted(a.text for a in anns))}"
                for label, anns in (("reads", io.reads), ("uses if present", io.uses), ("writes", io.writes))
                if anns
            ]
            out.append(f"    ({'; '.join(parts)})")
        for key, field in cls.Params.model_fields.items():
            if key in common and not only:
                continue
            default = "required" if field.is_required() else f"default {field.default!r}"
            doc = (field.description or "").strip().replace("\n", " ")
            out.append(f"    {key}: {type_name(field.annotation)} ({default})  {doc}".rstrip())
        out.append("")
    if not only:
        out.append("every stage also takes:")
        out.append("    name: str (required)  unique name of the stage in the graph")
        out.append("    type: str (required)  one of the stage types above")
        out.append("    input: str (default: the stage above)  the stage whose frames it reads")
        for key, field in StageParams.model_fields.items():
            doc = (field.description or "").strip()
            out.append(f"    {key}: {type_name(field.annotation)} (default {field.default!r})  {doc}")
    return "\n".join(out)


def print_error(exc: StreamerError) -> None:
    """One ``error:`` line per problem (a graph may have several)."""
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"error: {line}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    from streamer.graph import load_graph

    failed = 0
    for path in args.graphs:
        try:
            spec = load_graph(path, args.overrides, mode=args.mode)
        except StreamerError as exc:
            print_error(exc)
            failed += 1
            continue
        flow = ", ".join(
            f"{s.name}({s.type})" if s.input is None else f"{s.input}->{s.name}({s.type})"
            for s in spec.stages
        )
        print(f"ok: {path}: '{spec.name}', {spec.mode}, {len(spec.stages)} stages: {flow}")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from streamer.graph import load_graph
    from streamer.runner import RunOptions, run_graph
    from streamer.stages.base import Mode

    # --realtime makes a file behave like a camera: live mode (drops) unless --mode says otherwise
    mode: Mode | None = args.mode or ("live" if args.realtime else None)
    spec = load_graph(args.graph, args.overrides, mode=mode)
    if args.max_frames is not None and args.max_frames < 1:
        raise StreamerError(f"--max-frames: expected a positive number, got {args.max_frames}")
    result = run_graph(spec, RunOptions(max_frames=args.max_frames, realtime=args.realtime, quiet=args.quiet))
    print(result.table(), file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if result.error is not None:
        raise result.error
    if result.stopped == "signal":
        print("stopped by signal; outputs finalised", file=sys.stderr)
        return 130
    if args.strict and result.warnings:
        raise StreamerError(f"{result.warnings[0]} (--strict)")
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    print(describe_stages(args.types))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from streamer.bench import bench_graph

    bench_graph(
        args.graph,
        args.overrides,
        mode=args.mode,
        frames=args.frames,
        repeat=args.repeat,
        json_path=args.json,
    )
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from streamer.enroll import run_enroll

    print(
        run_enroll(
            args.gallery, args.name, list(args.images), args.model, args.threshold, replace=args.replace
        )
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from streamer.faces import model_store

    if args.action == "pull":
        for path in model_store.pull(args.names or None, log=lambda m: print(m, file=sys.stderr)):
            print(path)
        return 0
    from streamer.metrics import format_table

    rows = [
        [m["name"], m["status"], str(m["path"]), str(m["size"] or "-")] for m in model_store.list_models()
    ]
    print(format_table(rows, ["model", "status", "path", "bytes"]))
    print(f"cache: {model_store.cache_dir()}  (set STREAMER_CACHE to move it)")
    return 0


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "stages": cmd_stages,
    "bench": cmd_bench,
    "enroll": cmd_enroll,
    "models": cmd_models,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    except StreamerError as exc:
        if args.debug:
            raise
        print_error(exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line unless --debug
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
