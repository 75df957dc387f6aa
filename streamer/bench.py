"""`streamer bench GRAPH`: each stage alone, the threaded pipeline, and a naive loop.

What is measured, on the first ``frames`` frames of the graph's source, ``repeat`` times
(medians reported):

- **stage alone**: the source decoding into memory; every other stage fed the frames its
  input produces (computed once beforehand), timed over ``process`` + ``flush`` (+ ``close``
  for sinks, since encoders finish their work there).
- **pipeline**: the graph run by the threaded runner, offline mode, start to last sink close.
- **naive loop**: one thread pulling each source frame through every stage in order: what a
  ``while cap.read(): ...`` script does.

It prints a table and writes JSON; it never fails on timing. On a machine with fewer cores
than stages, the pipeline can only approach the slowest stage alone (they share the cores).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer.errors import StreamerError
from streamer.frame import Frame
from streamer.graph import GraphSpec, load_graph
from streamer.metrics import format_table
from streamer.runner import RunOptions, run_graph
from streamer.stages.base import Mode, RunContext, Sink, Source, Stage


def _as_list(out: Frame | Sequence[Frame] | None) -> list[Frame]:
    if out is None:
        return []
    if isinstance(out, Frame):
        return [out]
    return list(out)


def _new_stage(spec: GraphSpec, name: str, ctx: RunContext) -> Stage:
    s = spec.stage(name)
    return s.cls(s.name, s.params, ctx)


def _read_source(spec: GraphSpec, frames: int, ctx: RunContext) -> tuple[list[Frame], float]:
    src_spec = spec.sources[0]
    src = _new_stage(spec, src_spec.name, ctx)
    assert isinstance(src, Source)
    src.open()
    got: list[Frame] = []
    try:
        t = time.perf_counter()
        gen = src.frames()
        for frame in gen:
            got.append(frame)
            if len(got) >= frames:
                break
        gen.close()
        elapsed = time.perf_counter() - t
    finally:
        src.close()
    if not got:
        raise StreamerError(f"bench: source '{src_spec.name}' produced no frames")
    return got, elapsed


def _time_stage(stage: Stage, inputs: list[Frame]) -> tuple[list[Frame], float]:
    stage.open()
    outs: list[Frame] = []
    try:
        t = time.perf_counter()
        for f in inputs:
            outs.extend(_as_list(stage.process(f)))
        outs.extend(stage.flush())
        if isinstance(stage, Sink):
            stage.close()
        elapsed = time.perf_counter() - t
    finally:
        stage.close()
    return outs, elapsed


def _naive_loop(spec: GraphSpec, frames: int, ctx: RunContext) -> tuple[int, float]:
    stages = {s.name: _new_stage(spec, s.name, ctx) for s in spec.stages}
    for st in stages.values():
        st.open()
    src = stages[spec.sources[0].name]
    assert isinstance(src, Source)
    n = 0
    try:
        t = time.perf_counter()
        gen = src.frames()
        for frame in gen:
            outputs: dict[str, list[Frame]] = {src.name: [frame]}
            for s in spec.stages:
                if s.input is None:
                    continue
                outputs[s.name] = [
                    o for f in outputs.get(s.input, []) for o in _as_list(stages[s.name].process(f))
                ]
            n += 1
            if n >= frames:
                break
        gen.close()
        pending: dict[str, list[Frame]] = {}
        for s in spec.stages:
            if s.input is None:
                continue
            held = [o for f in pending.get(s.input, []) for o in _as_list(stages[s.name].process(f))]
            pending[s.name] = held + list(stages[s.name].flush())
        for st in stages.values():
            st.close()
        elapsed = time.perf_counter() - t
    finally:
        for st in stages.values():
            st.close()
    return n, elapsed


def bench_graph(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    mode: Mode | None = None,
    frames: int = 300,
    repeat: int = 3,
    json_path: Path | None = None,
    out: Any = None,
) -> dict[str, Any]:
    """Run the three measurements, print the table, write JSON; return the results."""
    stream = out or sys.stdout
    spec = load_graph(path, overrides, mode="offline" if mode is None else mode)
    if len(spec.sources) != 1:
        raise StreamerError("bench: expected a graph with exactly one source")
    ctx = RunContext(mode=spec.mode, graph_path=spec.path, quiet=True, log=lambda _m: None)
    if repeat < 1 or frames < 1:
        raise StreamerError("bench: expected --frames >= 1 and --repeat >= 1")

    alone: dict[str, list[float]] = {s.name: [] for s in spec.stages}
    counts: dict[str, int] = {}
    cached: list[Frame] = []
    for _ in range(repeat):
        cached, elapsed = _read_source(spec, frames, ctx)
        alone[spec.sources[0].name].append(len(cached) / elapsed)
    n = len(cached)
    counts[spec.sources[0].name] = n
    produced: dict[str, list[Frame]] = {spec.sources[0].name: cached}
    for s in spec.stages:
        if s.input is None:
            continue
        inputs = produced[s.input]
        counts[s.name] = len(inputs)
        for r in range(repeat):
            outs, elapsed = _time_stage(_new_stage(spec, s.name, ctx), inputs)
            alone[s.name].append(len(inputs) / elapsed if elapsed > 0 else float("inf"))
            if r == 0:
                produced[s.name] = outs
        print(f"  {s.name}: {statistics.median(alone[s.name]):.1f} fps alone", file=sys.stderr)
    del produced

    pipeline: list[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = run_graph(spec, RunOptions(max_frames=n, quiet=True, handle_signals=False))
        wall = time.perf_counter() - t
        if result.error is not None:
            raise result.error
        pipeline.append(n / wall)
    naive: list[float] = []
    for _ in range(repeat):
        done, elapsed = _naive_loop(spec, n, ctx)
        naive.append(done / elapsed)

    med = {k: statistics.median(v) for k, v in alone.items()}
    slowest = min(med, key=lambda k: med[k])
    p_fps, n_fps = statistics.median(pipeline), statistics.median(naive)
    rows = [
        [f"{k} ({spec.stage(k).type}) alone", str(counts[k]), f"{v:.1f}", f"{v / med[slowest]:.2f}"]
        for k, v in med.items()
    ]
    rows.append(["pipeline (threaded)", str(n), f"{p_fps:.1f}", f"{p_fps / med[slowest]:.2f}"])
    rows.append(["naive loop (1 thread)", str(n), f"{n_fps:.1f}", f"{n_fps / med[slowest]:.2f}"])
    table = format_table(rows, ["measure", "frames", "fps", "x slowest"])
    summary = (
        f"pipeline / slowest stage alone ({slowest}) = {p_fps / med[slowest]:.2f}; "
        f"pipeline / naive loop = {p_fps / n_fps:.2f}  (medians of {repeat})"
    )
    print(f"streamer bench {path}  ({n} frames, {platform.machine()}, {_cores()} cores)", file=stream)
    print(table, file=stream)
    print(summary, file=stream)
    results: dict[str, Any] = {
        "graph": str(path),
        "overrides": list(overrides),
        "frames": n,
        "repeat": repeat,
        "cores": _cores(),
        "machine": platform.platform(),
        "stage_alone_fps": {k: round(v, 2) for k, v in med.items()},
        "stage_alone_runs": {k: [round(x, 2) for x in v] for k, v in alone.items()},
        "slowest_stage": slowest,
        "pipeline_fps": round(p_fps, 2),
        "pipeline_runs": [round(x, 2) for x in pipeline],
        "naive_fps": round(n_fps, 2),
        "naive_runs": [round(x, 2) for x in naive],
        "pipeline_over_slowest": round(p_fps / med[slowest], 3),
        "pipeline_over_naive": round(p_fps / n_fps, 3),
    }
    target = json_path or Path("out") / "bench" / f"{spec.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target}", file=stream)
    return results


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
