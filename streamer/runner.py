"""Runs a validated graph: one thread per stage, a bounded queue on every edge.

Trade-off, per mode (the graph's ``mode``):

- ``offline``: a full queue blocks its producer, so nothing is ever lost and the graph runs
  exactly as fast as its slowest stage. Every source frame reaches every sink once.
- ``live``: latency must stay bounded when a stage cannot keep up, so frames are dropped; the
  question is where. Each source admits a frame into the graph only while fewer than
  ``max_in_flight`` of its frames are inside it (MediaPipe's flow limiter); a frame that finds
  no room is dropped at the entrance and counted in the source's ``drops``, before any stage
  has worked on it. An admitted frame then moves through blocking queues and is never dropped
  in the middle of the graph, so no work is wasted on frames that a later stage would drop.
  A frame leaves the graph (frees its place) when every branch is done with it: each sink has
  written it, or a stage passed nothing on for it, or it was handed to a ``newest`` input (a
  preview is best effort: it never holds the entrance shut); frames a stage emits for it
  (``predict`` fills a gap with several) belong to it. The last frame of a stream waits for
  room instead of being dropped, so an output ends where its source ended. Audio packets of a
  frame dropped at the entrance move onto the next admitted frame (or after the last one), so
  an encoder copying audio loses none.

Each stage's input queue has a policy (``streamer.stages.base.input_queue``): ``block`` (the
default of both modes, and of recording sinks) or ``newest`` (declared by preview sinks such as
``display`` and honoured in live mode; or ``queue_policy: newest`` in YAML): a full ``newest``
queue drops its oldest frame, counts the drop against the receiving stage and moves the dropped
frame's audio onto the newest. With ``max_in_flight: 0`` (no admission), live processing
stages default to ``newest``: the drop-oldest queues of before.

Example config (graph YAML)::

    mode: live
    max_in_flight: 2        # per source; 0 turns admission off
    stages:
      - {name: cam, type: capture, uri: 0}
      - {name: faces, type: face_detect}
      - {name: style, type: translate, model: models/face_drawing.onnx}
      - {name: rec, type: encode, path: out/rec.mp4}          # blocks: records every admitted frame
      - {name: win, type: display, input: style}              # keeps the newest
      - {name: log, type: events, input: faces, queue_policy: block, queue: 8}

End of stream is an ``_End`` item that flows through the graph behind the last frame; a stage
flushes held frames when it sees it and passes it on. The first unhandled error in a stage
stops the sources; everything already queued downstream still drains to the sinks, every
stage is closed (sinks finalise their files), and ``run`` raises ``StageError`` naming the
stage and frame. SIGINT/SIGTERM stop the same way; a second signal aborts without draining
(sinks are still closed).

Example::

    spec = load_graph("graphs/file_stylize.yaml", ["cam.uri=samples/one_face.mp4"])
    result = run_graph(spec, RunOptions(max_frames=100))
    print(result.table())
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer import threads as thread_budget
from streamer.errors import StageError, StreamerError
from streamer.frame import Frame
from streamer.graph import GraphSpec, instantiate
from streamer.metrics import Progress, StageMetrics, summary_table
from streamer.stages.base import QueuePolicy, RunContext, Sink, Source, Stage, input_queue

POLL = 0.05  # seconds between checks of stop/abort while waiting


def _key_named_in(params: Any, message: str) -> str | None:
    """The parameter whose (string) value the message quotes: ``model file not found: nope.onnx``
    is about ``model: nope.onnx``. The longest value wins; None when no value is quoted."""
    best: tuple[int, str] | None = None
    for key, value in params:
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if len(text) >= 3 and text in message and (best is None or len(text) > best[0]):
            best = (len(text), key)
    return best[1] if best else None


def open_error_line(spec: GraphSpec, name: str, exc: BaseException) -> str:
    """A stage's failure to open as one line naming the graph file and line, the stage and the
    key: the one the error names (``exc.key``, see ``Stage.param``), else the parameter whose
    value it quotes; like the errors the graph compiler reports before anything opens."""
    s = spec.stage(name)
    at = f"{spec.path}:{s.line}" if spec.path is not None and s.line else str(spec.path or spec.name)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    key = getattr(exc, "key", None) or _key_named_in(s.params, detail)
    if not isinstance(exc, StreamerError):
        detail = f"{type(exc).__name__}: {detail}"
    own = f"stage '{s.name}' ({s.type}): "
    if detail.startswith(own):  # the stage named itself (and maybe its key) already
        detail = detail[len(own) :]
        key = None if detail.startswith("key '") else key
    return f"{at}: stage '{s.name}' ({s.type}): " + (f"key '{key}': " if key else "") + detail


@dataclass(frozen=True)
class _End:
    """End of stream. ``audio``: audio after the last frame (natural end only)."""

    audio: tuple[Any, ...] = ()


class Ticket:
    """An admitted frame's place in the graph: one reference per queue slot or stage holding the
    frame (or a frame emitted for it); when the last is released the place is free again."""

    __slots__ = ("gate", "refs")

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.refs = 1  # the source's own, released once it has handed the frame on


class Gate:
    """Live admission for one source: at most ``limit`` of its frames inside the graph at once.

    The source asks before handing a frame on (``try_admit``, never waits: a frame without room
    is dropped at the entrance) except for the last frame of its stream (``admit_waiting``).
    Queues and stages take and release references of the frame's :class:`Ticket`; ``peak`` is
    the most frames ever in flight at once (tests, diagnostics)."""

    def __init__(self, limit: int, *, abort: threading.Event) -> None:
        self.limit = limit
        self.abort = abort
        self.in_flight = 0
        self.peak = 0
        self._cond = threading.Condition()

    def _admit(self) -> Ticket:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return Ticket(self)

    def try_admit(self) -> Ticket | None:
        """A ticket if the graph has room for one more frame of this source, else None."""
        with self._cond:
            return self._admit() if self.in_flight < self.limit else None

    def admit_waiting(self) -> Ticket | None:
        """Wait for room (the last frame of a stream); None once the graph is aborted."""
        with self._cond:
            while self.in_flight >= self.limit:
                if self.abort.is_set():
                    return None
                self._cond.wait(POLL)
            return self._admit()

    def acquire(self, ticket: Ticket) -> None:
        with self._cond:
            ticket.refs += 1

    def release(self, ticket: Ticket) -> None:
        with self._cond:
            ticket.refs -= 1
            if ticket.refs == 0:
                self.in_flight -= 1
                self._cond.notify_all()


def _release(ticket: Ticket | None) -> None:
    if ticket is not None:
        ticket.gate.release(ticket)


class Edge:
    """A bounded queue in front of one stage, with its input's policy when full: ``block`` (the
    producer waits; nothing is lost) or ``newest`` (the oldest frame is dropped and counted, its
    audio moves onto the newest).

    Only a ``block`` queue holds the admission ticket of a frame: a ``newest`` input is best
    effort (a preview), so a frame handed to it no longer counts as in flight, and a slow
    preview drops at its own queue instead of holding the entrance shut for the recording."""

    def __init__(self, maxsize: int, *, policy: QueuePolicy, abort: threading.Event, metrics: StageMetrics):
        self.maxsize = maxsize
        self.policy = policy
        self.abort = abort
        self.metrics = metrics
        self._items: deque[tuple[Frame | _End, Ticket | None]] = deque()
        self._cond = threading.Condition()

    def put(self, item: Frame | _End, ticket: Ticket | None = None) -> None:
        """Queue ``item``; a ``block`` queue takes its own reference of ``ticket`` (the caller keeps
        its own), a ``newest`` queue none."""
        with self._cond:
            if self.policy == "newest" or isinstance(item, _End):
                # never block the producer; end-of-stream is never refused or dropped
                while isinstance(item, Frame) and len(self._items) >= self.maxsize:
                    old, old_ticket = self._items.popleft()
                    if isinstance(old, _End):  # cannot happen (End is last); keep it anyway
                        self._items.appendleft((old, old_ticket))
                        break
                    self.metrics.drops += 1
                    _release(old_ticket)  # always None: a newest queue holds no tickets
                    if old.audio:
                        item = item.replace(audio=old.audio + item.audio)
            else:
                while len(self._items) >= self.maxsize:
                    if self.abort.is_set():
                        return
                    self._cond.wait(POLL)
            if ticket is not None and self.policy == "newest":
                ticket = None
            if ticket is not None:
                ticket.gate.acquire(ticket)
            self._items.append((item, ticket))
            self._cond.notify_all()

    def take(self) -> tuple[Frame | _End, Ticket | None] | None:
        """The next item and its ticket (the caller now holds that reference), or None once the
        graph is aborted."""
        with self._cond:
            while not self._items:
                if self.abort.is_set():
                    return None
                self._cond.wait(POLL)
            entry = self._items.popleft()
            self._cond.notify_all()
            return entry

    def get(self) -> Frame | _End | None:
        """The next item (its ticket released), or None once the graph is aborted."""
        entry = self.take()
        if entry is None:
            return None
        _release(entry[1])
        return entry[0]

    def __len__(self) -> int:
        """Frames waiting (end of stream is not counted: it never takes a frame's place)."""
        with self._cond:
            return sum(1 for i, _ in self._items if isinstance(i, Frame))


@dataclass
class RunOptions:
    max_frames: int | None = None
    realtime: bool = False
    quiet: bool = False
    progress: bool = True
    handle_signals: bool = True
    log: Callable[[str], None] | None = None


@dataclass
class RunResult:
    graph: str
    mode: str
    wall: float
    metrics: list[StageMetrics]
    cpu: float | None = None  # process CPU seconds (every thread: stages, codecs, onnxruntime) while it ran
    stopped: str | None = None  # "signal", "error", "stage" (a stage asked to stop) or None
    error: StageError | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # one line each: what the run could not do as promised (an input that ended early)
    warnings: list[str] = field(default_factory=list)
    # the thread budget: threads given to each stage that left ``threads`` automatic
    threads: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        lines = [summary_table(self.metrics, self.wall, self.cpu)]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def stage(self, name: str) -> StageMetrics:
        return next(m for m in self.metrics if m.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "graph": self.graph,
            "mode": self.mode,
            "wall_s": round(self.wall, 4),
            "cpu_s": None if self.cpu is None else round(self.cpu, 4),
            "stopped": self.stopped,
            "error": None if self.error is None else str(self.error),
            "warnings": list(self.warnings),
            "threads": dict(self.threads),
            "stages": [m.to_json() for m in self.metrics],
        }


class GraphRunner:
    """Owns the threads, queues and stage objects of one run of a GraphSpec."""

    def __init__(self, spec: GraphSpec, options: RunOptions | None = None) -> None:
        self.spec = spec
        self.options = options or RunOptions()
        self.stop = threading.Event()  # sources stop, the rest drains
        self.abort = threading.Event()  # everyone stops now
        kw: dict[str, Any] = {}
        if self.options.log is not None:
            kw["log"] = self.options.log
        self.ctx = RunContext(
            mode=spec.mode,
            graph_path=spec.path,
            realtime=self.options.realtime,
            quiet=self.options.quiet,
            stop=self.stop,
            **kw,
        )
        spec, self.threads = thread_budget.apply(spec)  # a share of the cores per thread pool
        self.spec = spec
        if self.threads and not self.options.quiet:  # --quiet: only what matters (in --json anyway)
            self.ctx.log(thread_budget.describe(self.threads))
        self.stages: dict[str, Stage] = instantiate(spec, self.ctx)
        self.metrics = {s.name: StageMetrics(s.name, s.type) for s in spec.stages}
        live = spec.mode == "live"
        self._warnings: list[str] = []
        self.inbox: dict[str, Edge] = {}
        for s in spec.stages:
            if s.input is not None:
                q = input_queue(s.cls, s.params, mode=spec.mode, max_in_flight=spec.max_in_flight)
                self.inbox[s.name] = Edge(
                    q.size, policy=q.policy, abort=self.abort, metrics=self.metrics[s.name]
                )
                if not live and q.policy == "newest":
                    self._warnings.append(
                        f"stage '{s.name}' ({s.type}): queue_policy: newest drops frames in offline mode"
                        " (counted in its drops); remove it to keep every frame"
                    )
        # live admission at the entrance, one gate per source (DESIGN 3.4a)
        self.gates: dict[str, Gate] = {}
        if live and spec.max_in_flight > 0:
            self.gates = {s.name: Gate(spec.max_in_flight, abort=self.abort) for s in spec.sources}
        self.outs: dict[str, list[Edge]] = {
            s.name: [self.inbox[c] for c in spec.consumers.get(s.name, ())] for s in spec.stages
        }
        self._threads: list[threading.Thread] = []
        self._opened = threading.Semaphore(0)
        self._go = threading.Event()
        self._open_errors: dict[str, BaseException] = {}
        self._error: StageError | None = None
        self._error_lock = threading.Lock()
        self._stopped_by: str | None = None
        self._signals = 0

    # ---- errors and stopping -------------------------------------------------------------
    def _fail(self, stage: str, frame: int | None, exc: BaseException) -> None:
        with self._error_lock:
            if self._error is None:
                self._error = StageError(stage, frame, exc)
                self._stopped_by = "error"
        self.ctx.failed.set()  # file sinks keep their partial files (DESIGN 3.4b)
        self.stop.set()

    def request_stop(self, reason: str = "signal") -> None:
        """Stop the sources; everything queued drains. A second call aborts."""
        self._signals += 1
        if self._stopped_by is None:
            self._stopped_by = reason
        if self._signals >= 2:
            self.abort.set()
        self.stop.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._signals == 0 and not self.options.quiet:
            self.ctx.log("stopping: finishing queued frames and closing outputs (again to abort)")
        self.request_stop("signal")

    # ---- workers --------------------------------------------------------------------------
    def _emit(self, name: str, items: Sequence[Frame] | Frame | None, ticket: Ticket | None = None) -> int:
        """Hand frames on to every consumer; each frame emitted for an admitted one carries its
        ticket, so the admitted frame stays in flight until all of them are done."""
        if items is None:
            return 0
        if isinstance(items, Frame):
            items = (items,)
        for item in items:
            for edge in self.outs[name]:
                edge.put(item, ticket)
        return len(items)

    def _paced(self, frames: Generator[Frame, None, None]) -> Generator[Frame, None, None]:
        """--realtime: release each frame of a file source at its own timestamp."""
        t0: float | None = None
        first = 0.0
        for frame in frames:
            if self.options.realtime and not frame.stream.live:
                if t0 is None:
                    t0, first = time.perf_counter(), frame.time
                delay = t0 + (frame.time - first) - time.perf_counter()
                while delay > 0 and not self.stop.is_set():
                    time.sleep(min(delay, POLL))
                    delay = t0 + (frame.time - first) - time.perf_counter()
            yield frame

    def _run_source(self, name: str, src: Source) -> None:
        if not self._open_then_wait(name, src):
            return
        m = self.metrics[name]
        gate = self.gates.get(name)
        limit = self.options.max_frames
        natural = False
        index: int | None = None
        held: Frame | None = None  # live: the newest frame refused at the entrance, in case it is the last
        carry: tuple[Any, ...] = ()  # audio of frames dropped at the entrance, for the next admitted one
        gen = src.frames()
        frames = self._paced(gen)

        def admit(frame: Frame, ticket: Ticket) -> None:
            nonlocal carry
            if carry:
                frame, carry = frame.replace(audio=carry + frame.audio), ()
            self._emit(name, frame, ticket)
            ticket.gate.release(ticket)  # the source's own reference: the queues hold theirs

        try:
            count = 0
            while not self.stop.is_set():
                t = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    natural = True
                    break
                index = frame.index
                ended = time.perf_counter()
                count += 1
                last = limit is not None and count >= limit
                if gate is None:
                    self._emit(name, frame)
                    m.record(t, ended, 1, n_in=0, handed_on=time.perf_counter())
                else:
                    if held is not None:  # a newer frame came: the refused one is dropped
                        m.drops += 1
                        carry, held = carry + held.audio, None
                    ticket = gate.admit_waiting() if last else gate.try_admit()
                    if ticket is None:
                        held = frame
                    else:
                        admit(frame, ticket)
                    m.record(t, ended, int(ticket is not None), n_in=0, handed_on=time.perf_counter())
                if last:
                    break
            if held is not None and gate is not None and natural and self._error is None:
                ticket = gate.admit_waiting()  # the stream's last frame: the output ends where it ended
                if ticket is not None:
                    admit(held, ticket)
                    m.frames_out += 1
                    held = None
        except Exception as exc:  # noqa: BLE001 - reported with stage and frame
            self._fail(name, None if index is None else index + 1, exc)
        finally:
            frames.close()
            gen.close()
            if held is not None:  # stopped early: the refused frame is dropped, its audio kept
                m.drops += 1
                carry += held.audio
            audio: tuple[Any, ...] = ()
            if natural and self._error is None:
                try:
                    audio = tuple(src.trailing_audio())
                except Exception:  # noqa: BLE001 - trailing audio is best effort
                    audio = ()
            self._emit_end(name, _End(carry + audio))
            self._close(name, src)

    def _emit_end(self, name: str, end: _End) -> None:
        for edge in self.outs[name]:
            edge.put(end)

    def _close(self, name: str, stage: Stage) -> None:
        try:
            stage.close()
        except Exception as exc:  # noqa: BLE001
            self._fail(name, None, exc)
        self.metrics[name].counters.update(stage.counters)
        self._warnings.extend(w for w in getattr(stage, "warnings", ()) if w not in self._warnings)

    def _run_stage(self, name: str, stage: Stage) -> None:
        if not self._open_then_wait(name, stage):
            return
        m = self.metrics[name]
        inbox = self.inbox[name]
        failed = False
        ended = False
        try:
            while True:
                entry = inbox.take()
                if entry is None:  # aborted
                    break
                item, ticket = entry
                if isinstance(item, _End):
                    ended = True
                    if not failed:
                        try:
                            held = stage.flush()
                            if isinstance(stage, Sink):
                                stage.write_trailing_audio(item.audio)
                            m.frames_out += self._emit(name, held)
                        except Exception as exc:  # noqa: BLE001
                            self._fail(name, None, exc)
                            item = _End()
                        self._emit_end(name, item)
                    break
                try:
                    if failed:
                        continue  # keep draining so upstream never blocks on us
                    t = time.perf_counter()
                    try:
                        out = stage.process(item)
                    except Exception as exc:  # noqa: BLE001 - reported with stage and frame
                        failed = True
                        self._fail(name, item.index, exc)
                        self._emit_end(name, _End())
                        continue
                    done = time.perf_counter()
                    n = self._emit(name, out, ticket)
                    m.record(t, done, n, handed_on=time.perf_counter())
                finally:
                    _release(ticket)  # this branch is done with the frame (its outputs hold their own)
        finally:
            if not ended and not failed:
                self._emit_end(name, _End())
            self._close(name, stage)

    # ---- the run --------------------------------------------------------------------------
    def _open_then_wait(self, name: str, stage: Stage) -> bool:
        """Open the stage on its own worker thread (OpenCV windows and some devices need
        open/use/close on one thread), report, and wait until every stage has opened.
        Returns False when the run must not start (another stage failed to open)."""
        try:
            stage.open()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._open_errors[name] = exc
            self._opened.release()
            try:
                stage.close()
            except Exception:  # noqa: BLE001 - the open error is the one to report
                pass
            return False
        self._opened.release()
        while not self._go.wait(POLL):
            if self.abort.is_set():
                break
        if self.abort.is_set() or not self._go.is_set():
            self._close(name, stage)
            return False
        return True

    def _total_frames(self) -> int | None:
        totals = []
        for s in self.spec.sources:
            stage = self.stages[s.name]
            info = stage.stream_info if isinstance(stage, Source) else None
            n = getattr(info, "frame_count", None)
            if n is None:
                return self.options.max_frames
            totals.append(n)
        total = max(totals) if totals else None
        if total is not None and self.options.max_frames is not None:
            total = min(total, self.options.max_frames)
        return total

    def _wait_opened(self, n: int) -> None:
        """Every worker opens its stage; the first open error (in graph order) is raised."""
        for _ in range(n):
            while not self._opened.acquire(timeout=POLL):
                if self.abort.is_set():
                    break
        if self._open_errors or self.abort.is_set():
            self.abort.set()
            for t in self._threads:
                t.join(timeout=5)
            lines = [
                open_error_line(self.spec, s.name, self._open_errors[s.name])
                for s in self.spec.stages
                if s.name in self._open_errors
            ]
            if lines:  # every stage that failed to open, each like a compile-time error
                raise StreamerError("\n".join(lines))
            raise StreamerError("stopped before the graph started")

    def _done(self, sinks: list[str]) -> int:
        return max((max(self.metrics[n].frames_in, self.metrics[n].frames_out) for n in sinks), default=0)

    def run(self) -> RunResult:
        threads: list[threading.Thread] = self._threads
        for s in self.spec.stages:
            stage = self.stages[s.name]
            target: Callable[..., None] = self._run_source if isinstance(stage, Source) else self._run_stage
            threads.append(
                threading.Thread(target=target, args=(s.name, stage), name=f"stage-{s.name}", daemon=True)
            )

        old_handlers: dict[signal.Signals, Any] = {}
        if self.options.handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers[sig] = signal.signal(sig, self._on_signal)

        sinks = [s.name for s in self.spec.stages if not self.spec.consumers.get(s.name)]
        show = self.options.progress and not self.options.quiet
        try:
            for t in threads:
                t.start()
            self._wait_opened(len(threads))
            progress = Progress(self._total_frames(), enabled=show)
            start, cpu_start = time.perf_counter(), time.process_time()
            self._go.set()
            next_update = 0.0
            while True:
                alive = [t for t in threads if t.is_alive()]
                if not alive:
                    break
                alive[0].join(timeout=0.1)
                now = time.perf_counter()
                if now >= next_update:
                    progress.update(self._done(sinks))
                    next_update = now + 0.5
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        progress.update(self._done(sinks))
        progress.finish()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return RunResult(
            graph=self.spec.name,
            mode=self.spec.mode,
            wall=wall,
            cpu=cpu,
            metrics=[self.metrics[s.name] for s in self.spec.stages],
            stopped=self._stopped_by,
            error=self._error,
            warnings=list(self._warnings),
            threads=dict(self.threads),
        )


def run_graph(spec: GraphSpec, options: RunOptions | None = None) -> RunResult:
    """Open every stage, run the graph to its end (or a stop), close everything.

    Raises StreamerError when a stage cannot open; a failure while running is returned in
    ``RunResult.error`` (the CLI turns it into a one-line error and a non-zero exit).
    """
    return GraphRunner(spec, options).run()
