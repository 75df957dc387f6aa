"""``streamer batch``: one graph over many files, one Ray task per file, local Ray by default.

    streamer batch graphs/file_transcode.yaml --inputs 'videos/*.mp4' --out 'out/{stem}'
    streamer batch G.yaml --inputs @list.txt --out 'out/{parent}/{stem}' --address auto --gpus-per-job 0.25

Why a task per file: a graph needs a file's audio, container timestamps and per-track state in
order, so the file is the unit of work (Ray Data's video reader splits files into frames and
loses all three). Each task runs ``streamer.batch_worker.run_job``: the same graph runner as
``streamer run``, with sessions of ONNX models reused across the files a worker process runs.

The driver (this module) plans everything first (``streamer.batch_plan``: every refusal happens
before Ray starts), skips files that ``--resume`` finds complete in the manifest
(``streamer.batch_manifest``), then keeps a bounded window of tasks in flight, retries a failed
file up to ``--retries`` times, records each finished file in the manifest atomically, and shows
files done/total, frames/s and ETA. A failure never stops the other files; the exit status is
0 only when every file succeeded.

Ctrl-C: the first sets the cancel flag in a small control actor; running jobs stop like
``streamer run`` on SIGINT (their outputs finalised and renamed), jobs not yet started return
at once; the driver waits at most ``--stop-timeout`` seconds for them. A second Ctrl-C cancels
the tasks by force: their outputs stay under their partial names, never a final name.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from streamer.batch_manifest import Manifest
from streamer.batch_plan import BatchError, Job, Plan, make_plan

#: ok: finished; failed: after every retry; skipped: complete already (--resume); stopped: Ctrl-C,
#: outputs finalised; cancelled: never started; aborted: cancelled by force (outputs left partial)
STATUSES = ("ok", "failed", "skipped", "stopped", "cancelled", "aborted")
WAIT = 0.5  # seconds per ray.wait round (progress and Ctrl-C are handled between rounds)
GET_TIMEOUT = 60.0  # seconds for ray.get of a result that ray.wait said is ready


@dataclass
class BatchOptions:
    graph: Path
    inputs: list[str]
    out: list[str]
    overrides: list[str] = field(default_factory=list)
    address: str | None = None  # None: a local Ray instance; "auto" or ray://HOST:PORT: a cluster
    num_cpus: int | None = None  # local instance only (default: every core)
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    retries: int = 1
    resume: bool = False
    manifest: Path | None = None
    stop_timeout: float = 120.0
    quiet: bool = False


@dataclass
class BatchReport:
    graph: str
    files: list[dict[str, Any]]
    wall: float
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f["status"] == status)

    @property
    def frames(self) -> int:
        return sum(int(f.get("frames") or 0) for f in self.files if f["status"] != "skipped")

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return 130
        return 0 if all(f["status"] in ("ok", "skipped") for f in self.files) else 1

    def table(self) -> str:
        from streamer.metrics import format_table

        rows = []
        for f in self.files:
            secs, frames = f.get("seconds"), f.get("frames")
            fps = f.get("fps")
            rows.append(
                [
                    _short(f["input"]),
                    f["status"],
                    "-" if frames is None else str(frames),
                    "-" if secs is None else f"{secs:.2f}",
                    "-" if fps is None else f"{fps:.1f}",
                    str(f.get("attempts", 0)),
                ]
            )
        text = format_table(rows, ["file", "status", "frames", "seconds", "frames/s", "tries"])
        errors = [f"{f['status']}: {_short(f['input'])}: {f['error']}" for f in self.files if f.get("error")]
        fps = self.frames / self.wall if self.wall > 0 else 0.0
        parts = [f"{self.count(s)} {s}" for s in STATUSES if self.count(s)]
        summary = (
            f"{len(self.files)} files: {', '.join(parts)}; {self.frames} frames in {self.wall:.2f} s wall"
            f" ({fps:.1f} frames/s)"
        )
        return "\n".join([text, *errors, summary, *(f"warning: {w}" for w in self.warnings)])

    def to_json(self) -> dict[str, Any]:
        return {
            "graph": self.graph,
            "files_total": len(self.files),
            **{s: self.count(s) for s in STATUSES},
            "frames": self.frames,
            "wall_s": round(self.wall, 4),
            "fps": round(self.frames / self.wall, 2) if self.wall > 0 else None,
            "cancelled": self.cancelled,
            "warnings": list(self.warnings),
            "files": self.files,
        }


def _short(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class Control:
    """A tiny Ray actor shared by the driver and every task: the cancel flag, and how many
    frames each running job has done (for the driver's frames/s while files are long)."""

    def __init__(self) -> None:
        self.cancelled = False
        self.frames: dict[int, int] = {}

    def poll(self, index: int, frames: int) -> bool:
        self.frames[index] = frames
        return self.cancelled

    def cancel(self) -> None:
        self.cancelled = True

    def progress(self) -> dict[int, int]:
        return dict(self.frames)


def import_ray() -> Any:
    """Ray, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise BatchError(
            "streamer batch needs Ray: pip install 'streamer[cluster]' (or pip install 'ray[client]')"
        ) from None
    return ray


def _init_ray(ray: Any, options: BatchOptions) -> None:
    """A local instance (default; workers import this very streamer) or a running cluster."""
    kw: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if options.address:
        kw["address"] = options.address
    else:
        import streamer

        root = str(Path(streamer.__file__).resolve().parents[1])
        if Path(root).name not in ("site-packages", "dist-packages"):
            old = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = root + (os.pathsep + old if old else "")
        # "local": always a new instance of our own, never a cluster someone started here
        kw |= {"address": "local", "include_dashboard": False, "num_cpus": options.num_cpus}
    try:
        ray.init(**kw)
    except Exception as exc:  # noqa: BLE001 - one line: where Ray was looked for and why it failed
        where = options.address or "a local instance"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BatchError(f"cannot start Ray ({where}): {text}") from None


class _Display:
    """Files done/total, frames/s and ETA on one line (a terminal) or a line per finished file."""

    def __init__(
        self, total: int, skipped: int, *, stream: TextIO = sys.stderr, enabled: bool = True
    ) -> None:
        self.total = total
        self.skipped = skipped
        self.stream = stream
        self.enabled = enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._drawn = False

    def status(self, done: int, failed: int, running: int, frames: int, queued: int = 0) -> str:
        elapsed = time.perf_counter() - self.start
        rate = frames / elapsed if elapsed > 0 else 0.0
        ran = done - self.skipped
        eta = (self.total - done) * elapsed / ran if ran > 0 else None
        eta_s = "?" if eta is None else f"{int(eta) // 60:d}:{int(eta) % 60:02d}"
        bad = f" ({failed} failed)" if failed else ""
        return (
            f"{done}/{self.total} files{bad}, {running} running{f', {queued} queued' if queued else ''},"
            f" {frames} frames, {rate:.1f} frames/s,"
            f" ETA {eta_s}"
        )

    def draw(self, line: str) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + line.ljust(100)[:160])
            self.stream.flush()
            self._drawn = True

    def print(self, line: str) -> None:
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self._drawn = False
        print(line, file=self.stream, flush=True)

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _file_row(job: Job, result: dict[str, Any], attempts: int) -> dict[str, Any]:
    secs = result.get("seconds")
    frames = result.get("frames")
    fps = round(frames / secs, 2) if frames and secs else None
    return {
        "input": job.input,
        "outputs": [o.path for o in job.outputs],
        "status": result.get("status", "failed"),
        "frames": frames,
        "seconds": secs,
        "fps": fps,
        "attempts": attempts,
        "error": result.get("error"),
        "warnings": result.get("warnings", []),
        "worker": result.get("worker"),
        "node": result.get("node"),
        "model_loads": result.get("model_loads"),
        "models_reused": result.get("models_reused"),
    }


def _task_error(exc: BaseException) -> str:
    """A Ray failure (worker crashed, task error, lost node) as one line."""
    text = str(exc).strip().splitlines()
    first = next((t for t in text if t.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first.strip()}"


def run_batch(options: BatchOptions, *, log: Callable[[str], None] | None = None) -> BatchReport:
    """Plan, resume, run on Ray, report. Raises BatchError (one line) when it cannot start."""
    import streamer

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if options.retries < 0:
        raise BatchError(f"--retries: expected 0 or more, got {options.retries}")
    if options.cpus_per_job <= 0 or options.gpus_per_job < 0:
        raise BatchError("--cpus-per-job: expected more than 0; --gpus-per-job: expected 0 or more")
    import_ray()  # the one-line "install the extra" error before anything else
    plan: Plan = make_plan(
        options.graph, options.inputs, options.out, options.overrides, manifest=options.manifest
    )
    manifest = Manifest(plan.manifest, plan.graph)
    manifest.lock()
    try:
        if options.resume:
            manifest.load()
        else:
            try:
                manifest.load()  # keep entries of other inputs; this batch's are rewritten below
            except BatchError:
                manifest.entries = {}
        rows: dict[int, dict[str, Any]] = {}
        todo: list[Job] = []
        for job in plan.jobs:
            if options.resume and manifest.complete(job):
                entry = manifest.entries[job.input]
                rows[job.index] = _file_row(
                    job,
                    {"status": "skipped", "frames": entry.get("frames"), "seconds": entry.get("seconds")},
                    0,
                )
            else:
                todo.append(job)
        if options.resume and not options.quiet:
            log(f"resume: {len(plan.jobs) - len(todo)} of {len(plan.jobs)} files complete in {plan.manifest}")
        start = time.perf_counter()
        cancelled = False
        warnings: list[str] = []
        if todo:
            cancelled = _run_on_ray(options, plan, todo, manifest, rows, warnings, streamer.__version__, log)
        files = [rows[j.index] for j in plan.jobs if j.index in rows]
        files += [
            {
                "input": j.input,
                "outputs": [o.path for o in j.outputs],
                "status": "cancelled",
                "frames": 0,
                "seconds": None,
                "fps": None,
                "attempts": 0,
                "error": None,
                "warnings": [],
            }
            for j in plan.jobs
            if j.index not in rows
        ]
        files.sort(key=lambda f: f["input"])
        return BatchReport(str(plan.graph), files, time.perf_counter() - start, cancelled, warnings)
    finally:
        manifest.unlock()


def _run_on_ray(
    options: BatchOptions,
    plan: Plan,
    todo: list[Job],
    manifest: Manifest,
    rows: dict[int, dict[str, Any]],
    warnings: list[str],
    version: str,
    log: Callable[[str], None],
) -> bool:
    """Run ``todo`` on Ray; fill ``rows``; True when cancelled by Ctrl-C."""
    from streamer.batch_worker import run_job

    ray = import_ray()
    _init_ray(ray, options)
    done = len(plan.jobs) - len(todo)
    display = _Display(len(plan.jobs), done, enabled=not options.quiet)
    failed = 0
    frames_done = 0
    state = {"signals": 0}
    old_handlers: dict[signal.Signals, Any] = {}
    try:
        control = ray.remote(num_cpus=0)(Control).remote()
        task = ray.remote(run_job).options(
            num_cpus=options.cpus_per_job,
            num_gpus=options.gpus_per_job,
            max_retries=0,  # retries are counted here, failures of the file and of the worker alike
            scheduling_strategy="SPREAD",  # files over every node, not queued on the driver's
        )
        cpus = float(ray.cluster_resources().get("CPU", 1))
        window = max(2, 2 * int(cpus // options.cpus_per_job or 1))
        cwd = os.getcwd()

        def on_signal(signum: int, _frame: Any) -> None:
            state["signals"] += 1

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers[sig] = signal.signal(sig, on_signal)
        pending: deque[tuple[Job, int]] = deque((j, 1) for j in todo)
        inflight: dict[Any, tuple[Job, int]] = {}
        stop_deadline: float | None = None
        seen_signals = 0
        running_frames: dict[int, int] = {}
        next_progress = 0.0
        while pending or inflight:
            if state["signals"] != seen_signals:
                seen_signals = state["signals"]
                if seen_signals == 1:
                    display.print(
                        "stopping: running files finish their outputs, the rest are cancelled"
                        " (Ctrl-C again to abort)"
                    )
                    control.cancel.remote()
                    stop_deadline = time.perf_counter() + options.stop_timeout
                    pending.clear()
            if seen_signals >= 2 or (stop_deadline is not None and time.perf_counter() > stop_deadline):
                for ref, (job, attempt) in inflight.items():
                    ray.cancel(ref, force=True)
                    rows[job.index] = _file_row(
                        job,
                        {"status": "aborted", "frames": None, "seconds": None,
                         "error": "cancelled by force; what it wrote stays under its .partial name"},
                        attempt,
                    )  # fmt: skip
                display.print(f"aborted: {len(inflight)} running files cancelled; their outputs stay partial")
                break
            while pending and len(inflight) < window:
                job, attempt = pending.popleft()
                ref = task.remote(str(plan.graph), cwd, job, control, attempt)
                inflight[ref] = (job, attempt)
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=WAIT)
            for ref in ready:
                job, attempt = inflight.pop(ref)
                try:
                    result = ray.get(ref, timeout=GET_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - a crashed worker fails this file only
                    result = {"status": "failed", "frames": 0, "seconds": None, "error": _task_error(exc)}
                if result.get("version") not in (None, version) and not warnings:
                    warnings.append(
                        f"worker {result.get('worker')} runs streamer {result['version']},"
                        f" this driver {version}"
                    )
                running_frames.pop(job.index, None)
                if result["status"] == "failed" and attempt <= options.retries and stop_deadline is None:
                    display.print(
                        f"retry {attempt}/{options.retries}: {_short(job.input)}: {result.get('error')}"
                    )
                    pending.append((job, attempt + 1))
                    continue
                row = _file_row(job, result, attempt)
                rows[job.index] = row
                manifest.record(job, result)
                if row["status"] != "cancelled":
                    done += 1
                failed += row["status"] == "failed"
                frames_done += int(row["frames"] or 0)
                what = (
                    f"{row['frames']} frames, {row['seconds'] or 0:.2f} s"
                    if row["status"] == "ok"
                    else row["error"] or ""
                )
                display.print(
                    f"[{done}/{len(plan.jobs)}] {row['status']}: {_short(job.input)}  {what}".rstrip()
                )
            now = time.perf_counter()
            if now >= next_progress:
                next_progress = now + 1.0
                try:
                    live = ray.get(control.progress.remote(), timeout=5)
                    running = {i for j, _ in inflight.values() for i in [j.index]}
                    running_frames = {i: n for i, n in live.items() if i in running}
                except Exception:  # noqa: BLE001 - progress is best effort
                    pass
                display.draw(
                    display.status(
                        done,
                        failed,
                        len(running_frames),
                        frames_done + sum(running_frames.values()),
                        queued=len(inflight) - len(running_frames) + len(pending),
                    )
                )
        display.finish()
        return state["signals"] > 0
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        ray.shutdown()


def write_json(report: BatchReport, path: Path) -> None:
    """The report as JSON (``--json PATH``), written atomically."""
    from streamer.io.output_file import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(report.to_json(), indent=2) + "\n").encode())
