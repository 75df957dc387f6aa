"""`streamer bench GRAPH`: each stage alone, the threaded pipeline, and a naive loop.

What is measured, on the first ``frames`` frames of the graph's source, ``repeat`` times
(medians reported):

- **stage alone**: the source decoding into memory; every other stage fed the frames its
  input produces (computed once beforehand), timed over ``process`` + ``flush`` (+ ``close``
  for sinks, since encoders finish their work there).
- **pipeline**: the graph run by the threaded runner, offline mode, start to last sink close.
- **naive loop**: one thread pulling each source frame through every stage in order: what a
  ``while cap.read(): ...`` script does.

Each measure also reports CPU ms per source frame: the process's CPU time over the same span
(every thread: decoder, encoder and onnxruntime threads included). CPU time is what the stages
share: with C cores, a pipeline runs at about ``C * 1000 / (sum of the stages' CPU ms)``
frames/s at best however it overlaps them (the "CPU:" line; a stage using several threads alone
spends a little more CPU than in the pipeline, where the cores are already busy), and CPU time
is far less disturbed than wall time by other jobs on a shared machine.

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


def cpu_model() -> str:
    """The processor's model name ("AMD EPYC ..."), for every benchmark's table and JSON: the
    same graph runs 1.6x slower on one of our machines than another, so numbers name the CPU."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _as_list(out: Frame | Sequence[Frame] | None) -> list[Frame]:
    if out is None:
        return []
    if isinstance(out, Frame):
        return [out]
    return list(out)


def _new_stage(spec: GraphSpec, name: str, ctx: RunContext) -> Stage:
    s = spec.stage(name)
    return s.cls(s.name, s.params, ctx)


def _read_source(spec: GraphSpec, frames: int, ctx: RunContext) -> tuple[list[Frame], float, float]:
    src_spec = spec.sources[0]
    src = _new_stage(spec, src_spec.name, ctx)
    assert isinstance(src, Source)
    src.open()
    got: list[Frame] = []
    try:
        t, c = time.perf_counter(), time.process_time()
        gen = src.frames()
        for frame in gen:
            got.append(frame)
            if len(got) >= frames:
                break
        gen.close()
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        src.close()
    if not got:
        raise StreamerError(f"bench: source '{src_spec.name}' produced no frames")
    return got, elapsed, cpu


def _time_stage(stage: Stage, inputs: list[Frame]) -> tuple[list[Frame], float, float]:
    stage.open()
    outs: list[Frame] = []
    try:
        t, c = time.perf_counter(), time.process_time()
        for f in inputs:
            outs.extend(_as_list(stage.process(f)))
        outs.extend(stage.flush())
        if isinstance(stage, Sink):
            stage.close()
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        stage.close()
    return outs, elapsed, cpu


def _naive_loop(spec: GraphSpec, frames: int, ctx: RunContext) -> tuple[int, float, float]:
    stages = {s.name: _new_stage(spec, s.name, ctx) for s in spec.stages}
    for st in stages.values():
        st.open()
    src = stages[spec.sources[0].name]
    assert isinstance(src, Source)
    n = 0
    try:
        t, c = time.perf_counter(), time.process_time()
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
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        for st in stages.values():
            st.close()
    return n, elapsed, cpu


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
    alone_cpu: dict[str, list[float]] = {s.name: [] for s in spec.stages}  # CPU s per run
    counts: dict[str, int] = {}
    cached: list[Frame] = []
    for _ in range(repeat):
        cached, elapsed, cpu = _read_source(spec, frames, ctx)
        alone[spec.sources[0].name].append(len(cached) / elapsed)
        alone_cpu[spec.sources[0].name].append(cpu)
    n = len(cached)
    counts[spec.sources[0].name] = n
    produced: dict[str, list[Frame]] = {spec.sources[0].name: cached}
    for s in spec.stages:
        if s.input is None:
            continue
        inputs = produced[s.input]
        counts[s.name] = len(inputs)
        for r in range(repeat):
            outs, elapsed, cpu = _time_stage(_new_stage(spec, s.name, ctx), inputs)
            alone[s.name].append(len(inputs) / elapsed if elapsed > 0 else float("inf"))
            alone_cpu[s.name].append(cpu)
            if r == 0:
                produced[s.name] = outs
        print(f"  {s.name}: {statistics.median(alone[s.name]):.1f} fps alone", file=sys.stderr)
    del produced

    pipeline: list[float] = []
    pipeline_cpu: list[float] = []
    for r in range(repeat):
        # the stages' start lines (provider, threads, output file) once, not once per run
        silent: dict[str, Any] = {} if r == 0 else {"log": lambda _m: None}
        t = time.perf_counter()
        result = run_graph(spec, RunOptions(max_frames=n, quiet=True, handle_signals=False, **silent))
        wall = time.perf_counter() - t
        if result.error is not None:
            raise result.error
        pipeline.append(n / wall)
        pipeline_cpu.append(result.cpu if result.cpu is not None else float("nan"))
        # where the pipeline's time went, per stage (busy vs blocked on a full queue): last run
        pipeline_stages = [m.to_json() for m in result.metrics]
        pipeline_threads = dict(getattr(result, "threads", {}) or {})
    naive: list[float] = []
    naive_cpu: list[float] = []
    for _ in range(repeat):
        done, elapsed, cpu = _naive_loop(spec, n, ctx)
        naive.append(done / elapsed)
        naive_cpu.append(cpu)

    def ms(seconds: list[float]) -> float:  # CPU ms per source frame, median over the runs
        return statistics.median(seconds) * 1000 / n

    med = {k: statistics.median(v) for k, v in alone.items()}
    med_cpu = {k: ms(v) for k, v in alone_cpu.items()}
    slowest = min(med, key=lambda k: med[k])
    p_fps, n_fps = statistics.median(pipeline), statistics.median(naive)
    p_cpu, n_cpu = ms(pipeline_cpu), ms(naive_cpu)
    cores = usable_cores()
    cpu_sum = sum(med_cpu.values())
    cpu_fps = cores * 1000 / cpu_sum if cpu_sum > 0 else float("inf")
    rows = [
        [
            f"{k} ({spec.stage(k).type}) alone",
            str(counts[k]),
            f"{v:.1f}",
            f"{med_cpu[k]:.1f}",
            f"{v / med[slowest]:.2f}",
        ]
        for k, v in med.items()
    ]
    rows.append(
        ["pipeline (threaded)", str(n), f"{p_fps:.1f}", f"{p_cpu:.1f}", f"{p_fps / med[slowest]:.2f}"]
    )
    rows.append(
        ["naive loop (1 thread)", str(n), f"{n_fps:.1f}", f"{n_cpu:.1f}", f"{n_fps / med[slowest]:.2f}"]
    )
    table = format_table(rows, ["measure", "frames", "fps", "CPU ms/frame", "x slowest"])
    summary = (
        f"pipeline / slowest stage alone ({slowest}) = {p_fps / med[slowest]:.2f}; "
        f"pipeline / naive loop = {p_fps / n_fps:.2f}  (medians of {repeat})\n"
        f"CPU: the stages alone use {cpu_sum:.1f} ms per frame in all, {cores} cores ~ {cpu_fps:.1f} fps; "
        f"the pipeline used {p_cpu:.1f} ms per frame"
    )
    print(f"streamer bench {path}  ({n} frames, {cpu_model()}, {cores} cores)", file=stream)
    print(table, file=stream)
    print(summary, file=stream)
    results: dict[str, Any] = {
        "graph": str(path),
        "overrides": list(overrides),
        "frames": n,
        "repeat": repeat,
        "cores": cores,
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
        "stage_alone_cpu_ms_per_frame": {k: round(v, 2) for k, v in med_cpu.items()},
        "pipeline_cpu_ms_per_frame": round(p_cpu, 2),
        "naive_cpu_ms_per_frame": round(n_cpu, 2),
        "cpu_estimate_fps": round(cpu_fps, 2),
        "pipeline_stages": pipeline_stages,
        "pipeline_threads": pipeline_threads,
    }
    target = json_path or Path("out") / "bench" / f"{spec.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target}", file=stream)
    return results


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask; all cores where there is none)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
