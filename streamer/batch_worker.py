"""``streamer batch``, part 3: what runs inside a Ray worker process, one call per input file.

``run_job`` compiles the job's graph with ``load_graph`` and runs it with the same
``GraphRunner`` as ``streamer run`` (same stages, queues, timestamps, audio, output files:
written under a partial name and renamed when finalised), then returns a plain dict: status,
frames, seconds, frames/s, the one-line error, warnings, and which worker process ran it.

Models are loaded once per worker process: ``install_session_cache`` memoises the ONNX Runtime
sessions the model layer creates (the costly part: graph optimisation, TensorRT engines, GPU
memory), keyed by the model file's real path, size and mtime, the providers and options. A Ray
worker runs one task at a time and is reused for the next file, so the second file on a worker
finds its sessions ready. ``SESSION_STATS`` counts loads and reuses; each result carries the
counts of its own run, which is how the tests show it.

Cancellation: the graph runs on a thread of its own while the task's main thread watches two
things: the batch's control actor (the driver's first Ctrl-C) and KeyboardInterrupt (a SIGINT
that reached the worker, or ``ray.cancel``). Either calls ``GraphRunner.request_stop`` exactly
like SIGINT does in ``streamer run``: sources stop, queued frames drain, sinks finalise and
rename their files. Every wait is bounded (``STOP_GRACE`` seconds, then the runner aborts).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from streamer.batch_plan import Job

POLL = 0.25  # seconds between looks at the graph thread
CONTROL_EVERY = 0.5  # seconds between calls to the control actor (cancel flag, progress)
STOP_GRACE = 60.0  # seconds a stopping graph gets to drain and finalise before it is aborted

SESSION_STATS = {"loads": 0, "reused": 0}
_SESSIONS: dict[tuple[Any, ...], Any] = {}
_SESSIONS_LOCK = threading.Lock()
_installed = False


def _options_key(options: Any) -> tuple[Any, ...]:
    """What of a ``SessionOptions`` changes the session (the settings streamer's model layer sets)."""
    if options is None:
        return ()
    names = ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "execution_mode")
    entries = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")
    values: list[Any] = [str(getattr(options, n, None)) for n in names]
    for entry in entries:
        try:
            values.append(options.get_session_config_entry(entry))
        except Exception:  # noqa: BLE001 - an entry never set raises; it is part of the key as unset
            values.append(None)
    return tuple(values)


def install_session_cache() -> bool:
    """Make every ``onnxruntime.InferenceSession(path, ...)`` in this process return one shared
    session per model file, providers and options.

    Hooked at ONNX Runtime's constructor rather than inside ``streamer.onnx_model``, so it holds
    whatever shape the model layer takes (it calls ``onnxruntime.InferenceSession`` by module
    attribute); only Ray worker processes of ``streamer batch`` install it. Sessions are
    thread-safe for ``run`` and each caller makes its own IO binding, so two stages (or two
    files one after the other) may share one. Idempotent; False when onnxruntime is missing."""
    global _installed
    if _installed:
        return True
    try:
        import onnxruntime
    except ImportError:
        return False
    original = onnxruntime.InferenceSession

    def cached_session(path_or_bytes: Any, sess_options: Any = None, providers: Any = None, **kw: Any) -> Any:
        if not isinstance(path_or_bytes, (str, os.PathLike)) or kw.get("provider_options") is not None:
            return original(path_or_bytes, sess_options=sess_options, providers=providers, **kw)
        try:
            st = Path(path_or_bytes).stat()
        except OSError:
            return original(path_or_bytes, sess_options=sess_options, providers=providers, **kw)
        key = (
            os.path.realpath(path_or_bytes),
            st.st_size,
            st.st_mtime_ns,
            repr(providers),
            repr(sorted(kw.items())),
            _options_key(sess_options),
        )
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(key)
            if session is not None:
                SESSION_STATS["reused"] += 1
                return session
        session = original(path_or_bytes, sess_options=sess_options, providers=providers, **kw)
        with _SESSIONS_LOCK:
            _SESSIONS.setdefault(key, session)
            SESSION_STATS["loads"] += 1
        return session

    onnxruntime.InferenceSession = cached_session  # type: ignore[assignment,misc]
    _installed = True
    return True


def _sink_frames(runner: Any) -> int:
    """Frames the sinks have taken so far (what ``streamer run``'s progress bar counts)."""
    sinks = [s.name for s in runner.spec.stages if not runner.spec.consumers.get(s.name)]
    return max((runner.metrics[n].frames_in for n in sinks), default=0)


class _ControlLink:
    """Calls to the control actor without ``ray.get``: a task blocked in ``ray.get`` lends its
    CPU back to Ray, which then starts another file on it (three jobs on two cores). Each call
    is a future; the loop looks at it when it is done and only then sends the next one."""

    def __init__(self, control: Any, index: int) -> None:
        self.control = control
        self.index = index
        self.cancelled = False
        self._future: Any = None

    def first(self, timeout: float = 10.0) -> bool:
        """Before the file starts: has the batch been cancelled already? (waits at most ``timeout``)"""
        if self.control is None:
            return False
        try:
            fut = self.control.poll.remote(self.index, 0).future()
            self.cancelled = bool(fut.result(timeout=timeout))
        except Exception:  # noqa: BLE001 - a slow control actor must not fail the file
            pass
        return self.cancelled

    def poll(self, frames: int) -> bool:
        """Report ``frames``; True once the answer to an earlier call said "cancelled"."""
        if self.control is None:
            return False
        fut = self._future
        if fut is not None and not fut.done():
            return self.cancelled
        if fut is not None:
            try:
                self.cancelled = self.cancelled or bool(fut.result(timeout=0))
            except Exception:  # noqa: BLE001 - the driver is gone: Ray ends this task anyway
                pass
        try:
            self._future = self.control.poll.remote(self.index, frames).future()
        except Exception:  # noqa: BLE001
            self._future = None
        return self.cancelled


def run_job(graph: str, cwd: str, job: Job, control: Any = None, attempt: int = 1) -> dict[str, Any]:
    """Run the graph on one input; never raises for a failure of the file (it is in the dict)."""
    import streamer
    from streamer.errors import StreamerError
    from streamer.graph import load_graph
    from streamer.runner import GraphRunner, RunOptions

    if os.path.isdir(cwd):  # relative paths in the graph (models/...) mean what they meant to the driver
        os.chdir(cwd)
    install_session_cache()
    loads, reused = SESSION_STATS["loads"], SESSION_STATS["reused"]
    base: dict[str, Any] = {
        "index": job.index,
        "input": job.input,
        "attempt": attempt,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "node": _node_id(),
        "version": streamer.__version__,
    }
    t0 = time.perf_counter()
    link = _ControlLink(control, job.index)
    if link.first():
        return base | {"status": "cancelled", "frames": 0, "seconds": 0.0, "error": None, "warnings": []}
    logs: list[str] = []
    box: dict[str, Any] = {}
    try:
        spec = load_graph(graph, job.overrides)
        runner = GraphRunner(
            spec, RunOptions(quiet=True, progress=False, handle_signals=False, log=logs.append)
        )
    except StreamerError as exc:
        return base | _failed(exc, t0)

    def target() -> None:
        try:
            box["result"] = runner.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the task's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"batch-job-{job.index}", daemon=True)
    thread.start()
    stopping_since: float | None = None
    next_poll = time.perf_counter() + CONTROL_EVERY
    while thread.is_alive():
        try:
            thread.join(timeout=POLL)
            now = time.perf_counter()
            if stopping_since is None and now >= next_poll:
                next_poll = now + CONTROL_EVERY
                if link.poll(_sink_frames(runner)):
                    runner.request_stop("signal")
                    stopping_since = now
            if stopping_since is not None and now - stopping_since > STOP_GRACE:
                runner.request_stop("signal")  # the second request aborts (sinks still close)
                thread.join(timeout=STOP_GRACE)
                break
        except KeyboardInterrupt:  # SIGINT in the worker or ray.cancel: stop like streamer run does
            if stopping_since is None:
                runner.request_stop("signal")
                stopping_since = time.perf_counter()
    seconds = time.perf_counter() - t0
    counts = {
        "model_loads": SESSION_STATS["loads"] - loads,
        "models_reused": SESSION_STATS["reused"] - reused,
    }
    if "error" in box:
        return base | counts | _failed(box["error"], t0)
    result = box.get("result")
    if result is None:
        return (
            base
            | counts
            | {
                "status": "failed",
                "frames": 0,
                "seconds": seconds,
                "warnings": [],
                "error": f"the graph did not finish within {STOP_GRACE:.0f} s of being stopped",
            }
        )
    frames = _sink_frames(runner)
    status = "ok"
    error = None
    if result.error is not None:
        status, error = "failed", _line(result.error)
    elif result.stopped == "signal":
        status = "stopped"
    return (
        base
        | counts
        | {
            "status": status,
            "frames": frames,
            "seconds": round(seconds, 4),
            "run_wall_s": round(result.wall, 4),
            "error": error,
            "warnings": list(result.warnings),
        }
    )


def _node_id() -> str | None:
    """The Ray node this task runs on (None outside Ray; never starts Ray)."""
    try:
        import ray

        if not ray.is_initialized():
            return None
        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: BLE001 - only informative
        return None


def _line(exc: BaseException) -> str:
    """An error as the CLI prints it: its first line (with the type for unexpected errors)."""
    from streamer.errors import StreamerError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if isinstance(exc, StreamerError) else f"{type(exc).__name__}: {text}"


def _failed(exc: BaseException, t0: float) -> dict[str, Any]:
    return {
        "status": "failed",
        "frames": 0,
        "seconds": round(time.perf_counter() - t0, 4),
        "error": _line(exc),
        "warnings": [],
    }
