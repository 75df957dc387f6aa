"""``streamer batch``, part 1: what to run, decided before anything runs (no Ray here).

One graph, many input files. Each input becomes a :class:`Job`: the graph with its ``capture``
stage reading that file and every file sink writing where ``--out`` says, as ``--set``
overrides, so a job is exactly ``streamer run GRAPH --set cam.uri=IN --set out.path=OUT``.

Output names (``--out``). A template names each output from its input with ``{stem}``
(``clip``), ``{name}`` (``clip.mp4``) and ``{parent}`` (the input's folder name)::

    --out 'out/{stem}'                  # encode -> out/clip.mp4, events -> out/clip.jsonl,
                                        # frames -> out/clip/ (each sink keeps its graph extension)
    --out 'out/{stem}.mp4'              # already ends with the sink's extension: used as is
    --out out=res/{stem}.mkv --out ev=res/{stem}.events.jsonl   # one sink each, exact paths

Why this rule: the graph already chose each sink's format (the container from ``encode``'s
extension, JSON lines for ``events``, a folder for ``frames``), so one template that names the
*stem* serves every sink without changing a format by accident; two sinks that would land on one
path (two ``.mp4`` encoders) are refused with the fix, ``--out STAGE=TEMPLATE`` per sink.

Everything a user can get wrong is refused here, one line each, before Ray starts: inputs
that match nothing, unknown placeholders, two inputs mapping to one output, an output that is
an input (of any job, or a model the graph reads), and every per-job graph is compiled with
``load_graph`` (which runs the graph's own output checks, ``streamer.io.output_file``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamer.errors import StreamerError

PLACEHOLDERS = ("stem", "name", "parent")


class BatchError(StreamerError):
    """A batch cannot start: bad inputs, template, outputs or graph (one line)."""


@dataclass(frozen=True)
class Output:
    """One file or folder a job writes: the sink stage, its key (``path``/``dir``) and where."""

    stage: str
    key: str
    path: str  # absolute
    is_dir: bool


@dataclass(frozen=True)
class Job:
    """One input file and everything needed to run the graph on it, as ``streamer run`` would."""

    index: int
    input: str  # absolute
    overrides: tuple[str, ...]  # the user's --set, then the source's uri and every sink's path
    outputs: tuple[Output, ...]
    config: str  # digest of graph text + overrides: a manifest entry is valid only for the same one


@dataclass
class Plan:
    graph: Path  # absolute
    jobs: list[Job]
    source: str  # the capture stage's name
    sinks: list[str]  # file sinks, in graph order
    manifest: Path
    extra: dict[str, Any] = field(default_factory=dict)


# ---- inputs -----------------------------------------------------------------------------------


def expand_inputs(items: Sequence[str], *, cwd: Path | None = None) -> list[Path]:
    """Files named by ``--inputs``: globs (``**`` recursive), ``@list.txt`` (one path a line,
    ``#`` comments; relative paths are relative to the list's folder) or plain paths. Absolute,
    sorted, each file once (by real path). BatchError when an item names no file."""
    cwd = cwd or Path.cwd()
    found: list[Path] = []
    for item in items:
        if item.startswith("@"):
            lst = (cwd / Path(item[1:]).expanduser()).absolute()
            try:
                lines = lst.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise BatchError(f"--inputs {item}: cannot read the list ({exc.strerror or exc})") from None
            for n, line in enumerate(lines, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                p = (lst.parent / Path(text).expanduser()).absolute()
                if not p.is_file():
                    raise BatchError(f"{lst}:{n}: {text}: no such file; expected a video file path")
                found.append(p)
            continue
        pattern = str((cwd / Path(item).expanduser()).absolute())
        if set("*?[") & set(item):
            matches = [Path(m) for m in sorted(glob.glob(pattern, recursive=True)) if Path(m).is_file()]
            if not matches:
                raise BatchError(
                    f"--inputs {item!r}: no file matches; expected a glob that names video files"
                )
            found.extend(matches)
        else:
            p = Path(pattern)
            if not p.is_file():
                what = "is a folder (use 'DIR/*.mp4')" if p.is_dir() else "no such file"
                raise BatchError(f"--inputs {item}: {what}; expected a video file, a glob or @list.txt")
            found.append(p)
    seen: set[str] = set()
    out: list[Path] = []
    for p in sorted(found):
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    if not out:
        raise BatchError("--inputs: no input files; expected a glob, files or @list.txt")
    return out


# ---- templates --------------------------------------------------------------------------------


def check_template(template: str, what: str = "--out") -> None:
    """Only ``{stem}``, ``{name}``, ``{parent}`` (and ``{{``/``}}`` for braces) are allowed."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BatchError(f"{what} {template!r}: {exc}; expected placeholders such as {{stem}}") from None
    for _, name, spec, conv in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conv:
            raise BatchError(
                f"{what} {template!r}: unknown placeholder {{{name}}}; expected "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    if not template.strip():
        raise BatchError(f"{what}: empty template; expected e.g. 'out/{{stem}}'")


def expand(template: str, input_path: Path) -> str:
    """The template filled in for one input file."""
    return template.format(stem=input_path.stem, name=input_path.name, parent=input_path.parent.name)


def parse_out(
    items: Sequence[str], sinks: dict[str, tuple[str, str, bool]]
) -> tuple[str | None, dict[str, str]]:
    """``--out`` values -> (the default template or None, {stage: template}).

    ``STAGE=TEMPLATE`` applies to that sink only when STAGE is one of the graph's file sinks;
    any other value is the default template (a path may contain '=')."""
    default: str | None = None
    per_stage: dict[str, str] = {}
    for item in items:
        stage, eq, rest = item.partition("=")
        if eq and stage in sinks:
            check_template(rest, f"--out {stage}=")
            per_stage[stage] = rest
            continue
        if eq and "/" not in stage and "{" not in stage and stage.isidentifier():
            known = ", ".join(sinks) or "none"
            raise BatchError(f"--out {item}: no file sink named '{stage}'; expected one of: {known}")
        if default is not None:
            raise BatchError(
                f"--out {item}: a second default template; expected one, or --out STAGE=TEMPLATE"
            )
        check_template(item)
        default = item
    missing = [s for s in sinks if s not in per_stage]
    if missing and default is None:
        raise BatchError(
            f"--out: no template for stage '{missing[0]}';"
            f" expected --out TEMPLATE or --out {missing[0]}=TEMPLATE"
        )
    return default, per_stage


def output_for(template: str, graph_value: str, is_dir: bool, input_path: Path, *, exact: bool) -> str:
    """One sink's output for one input. ``exact`` (``STAGE=TEMPLATE``): the template is the path.
    Else the sink keeps its graph extension unless the expanded name already ends with it."""
    name = expand(template, input_path)
    if exact or is_dir:
        return name
    ext = Path(graph_value).suffix
    return name if not ext or name.lower().endswith(ext.lower()) else name + ext


# ---- the plan ---------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A --set value that YAML reads back as exactly this string (JSON is YAML)."""
    return json.dumps(value)


def default_manifest(default: str | None, per_stage: dict[str, str], graph: Path, cwd: Path) -> Path:
    """``.streamer-batch.GRAPH.json`` in the fixed folder the outputs go to (the template's
    folder before its first placeholder), else the working directory."""
    template = default if default is not None else next(iter(per_stage.values()))
    fixed = template.split("{", 1)[0]
    folder = Path(fixed).parent if not fixed.endswith("/") else Path(fixed)
    return (cwd / folder / f".streamer-batch.{graph.stem}.json").absolute()


def _real(path: str | Path) -> str:
    return os.path.realpath(Path(path).expanduser())


def make_plan(
    graph: Path,
    inputs: Sequence[str],
    out: Sequence[str],
    overrides: Sequence[str] = (),
    *,
    manifest: Path | None = None,
    cwd: Path | None = None,
) -> Plan:
    """Compile the graph once per input with its outputs filled in; refuse every clash first."""
    from streamer.graph import load_graph, read_graph_text

    cwd = cwd or Path.cwd()
    graph = (cwd / graph).absolute()
    base = load_graph(graph, overrides)  # GraphError (one line per problem) before anything else
    sources = [s for s in base.stages if s.input is None]
    if len(sources) != 1 or sources[0].type != "capture":
        got = ", ".join(f"'{s.name}' ({s.type})" for s in sources)
        raise BatchError(f"{graph}: expected one capture stage to read each input file, got {got}")
    source = sources[0].name
    sinks: dict[str, tuple[str, str, bool]] = {}
    for s in base.stages:
        declared = s.cls.output_paths(s.params)
        if s.cls.role == "sink" and not declared and s.type != "null":
            raise BatchError(
                f"{graph}: stage '{s.name}' ({s.type}) writes no file; a batch needs file sinks "
                "(encode to a file, events, frames) or null"
            )
        if len(declared) > 1:
            raise BatchError(f"{graph}: stage '{s.name}' ({s.type}) writes several outputs; not supported")
        for key, value, is_dir in declared:
            sinks[s.name] = (key, value, is_dir)
    if not sinks:
        raise BatchError(f"{graph}: no file sink (encode, events, frames); a batch would write nothing")
    default, per_stage = parse_out(out, sinks)
    digest = hashlib.sha256(read_graph_text(graph).encode()).hexdigest()

    files = expand_inputs(inputs, cwd=cwd)
    input_ids = {_real(p): p for p in files}
    written: dict[str, tuple[Path, str]] = {}  # real output path -> (input, stage)
    jobs: list[Job] = []
    for i, src in enumerate(files):
        outs: list[Output] = []
        sets = [*overrides, f"{source}.uri={_quote(str(src))}"]
        for stage, (key, value, is_dir) in sinks.items():
            exact = stage in per_stage
            template = per_stage[stage] if exact else default
            assert template is not None
            path = (cwd / output_for(template, value, is_dir, src, exact=exact)).absolute()
            real = _real(path)
            if real in written:
                other, other_stage = written[real]
                same = other == src
                raise BatchError(
                    f"--out: {path} is the output of both "
                    + (f"stages '{other_stage}' and '{stage}'" if same else f"{other} and {src}")
                    + "; expected a template that names each output differently"
                    + (f" (--out {stage}=TEMPLATE)" if same else " (e.g. with {parent} or {name})")
                )
            written[real] = (src, stage)
            _refuse_input_clash(path, is_dir, input_ids, stage)
            outs.append(Output(stage, key, str(path), is_dir))
            sets.append(f"{stage}.{key}={_quote(str(path))}")
        config = hashlib.sha256((digest + "\0" + "\0".join(sets)).encode()).hexdigest()[:16]
        jobs.append(Job(i, str(src), tuple(sets), tuple(outs), config))
    for job in jobs:  # the graph's own checks on every job: output vs its input and models (3.4b)
        load_graph(graph, job.overrides)
    mf = (cwd / manifest).absolute() if manifest else default_manifest(default, per_stage, graph, cwd)
    return Plan(graph=graph, jobs=jobs, source=source, sinks=list(sinks), manifest=mf)


def _refuse_input_clash(path: Path, is_dir: bool, inputs: dict[str, Path], stage: str) -> None:
    """An output (or its partial/lock file) that is any job's input, or a folder holding one."""
    from streamer.io.output_file import lock_path, partial_path

    real = Path(_real(path))
    names = [real] if is_dir else [real, partial_path(real), lock_path(real)]
    for name in names:
        if str(name) in inputs:
            raise BatchError(
                f"--out: {path} (stage '{stage}') is an input of this batch ({inputs[str(name)]});"
                " expected outputs apart from the inputs"
            )
    if is_dir:
        for key, src in inputs.items():
            if key.startswith(str(real) + os.sep):
                raise BatchError(
                    f"--out: folder {path} (stage '{stage}') holds an input of this batch ({src});"
                    " expected outputs apart from the inputs"
                )
