"""Per-stage counters, the end-of-run table and the progress line.

Counters are written by one worker thread each and read by the main thread for progress (and by
``--serve`` for live metrics); plain int/float attribute updates are atomic enough for display,
sample windows are copied in one C call before they are summarised, and the summary is read only
after every worker has been joined.

End-to-end latency (DESIGN 4, Holoscan's data flow tracking): every frame carries the time its
source produced it (``Frame.captured``); a sink (a stage nobody reads from) records, per frame,
the time from capture until it finished with the frame. Its p50/p95 appear in the end-of-run
table (``e2e p50 ms``, ``e2e p95 ms``), ``--json`` (``e2e_p50_ms``/``e2e_p95_ms``) and live metrics.
"""

from __future__ import annotations

import bisect
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

LATENCY_WINDOW = 20_000  # newest samples kept per stage: an hour-long run stays bounded
#: Upper bounds (seconds) of the latency histogram buckets kept over the whole run (Prometheus'
#: histograms are cumulative counts since start; the sample windows above only hold the newest).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


def _samples(window: deque[float]) -> np.ndarray:
    """A copy of a sample window that another thread may be appending to."""
    for _ in range(10):
        try:
            return np.array(tuple(window), dtype=float)
        except RuntimeError:  # mutated while copied: try again
            continue
    return np.zeros(0)


@dataclass
class Histogram:
    """Cumulative counts of samples per ``LATENCY_BUCKETS`` bound, their sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        i = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if i < len(self.buckets):
            self.buckets[i] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus wants them, ``+Inf`` last."""
        out, running = [], 0
        for bound, n in zip(LATENCY_BUCKETS, list(self.buckets), strict=True):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", max(running, self.count)))
        return out


@dataclass
class StageMetrics:
    name: str
    type: str
    frames_in: int = 0
    frames_out: int = 0
    drops: int = 0
    first: float | None = None  # perf_counter when the first frame arrived
    last: float | None = None  # perf_counter when the last frame was done
    busy: float = 0.0  # seconds spent inside process()/decode (the latencies' sum)
    blocked: float = 0.0  # seconds spent handing results on: waiting for room downstream (offline)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    counters: dict[str, int] = field(default_factory=dict)
    histogram: Histogram = field(default_factory=Histogram)
    # sinks only: seconds from each frame's capture until this stage finished with it
    e2e: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    e2e_histogram: Histogram = field(default_factory=Histogram)

    def record(
        self, started: float, ended: float, n_out: int, *, n_in: int = 1, handed_on: float | None = None
    ) -> None:
        """One frame: work from ``started`` to ``ended`` (its latency), then its results handed
        on to the next stages by ``handed_on`` (time blocked on a full queue, not work)."""
        if self.first is None:
            self.first = started
        self.last = ended if handed_on is None else handed_on
        self.frames_in += n_in
        self.frames_out += n_out
        self.busy += ended - started
        if handed_on is not None:
            self.blocked += max(0.0, handed_on - ended)
        self.latencies.append(ended - started)
        self.histogram.add(ended - started)

    def record_e2e(self, seconds: float) -> None:
        """A sink finished a frame ``seconds`` after its source produced it."""
        self.e2e.append(seconds)
        self.e2e_histogram.add(seconds)

    def percentile_ms(self, q: float) -> float | None:
        samples = _samples(self.latencies)
        return float(np.percentile(samples, q) * 1000.0) if samples.size else None

    def e2e_ms(self, q: float) -> float | None:
        """Percentile ``q`` of the end-to-end latency in ms (None: not a sink, or no frame yet)."""
        samples = _samples(self.e2e)
        return float(np.percentile(samples, q) * 1000.0) if samples.size else None

    @property
    def fps(self) -> float | None:
        """Frames handled per second of wall time while the stage was active."""
        n = max(self.frames_in, self.frames_out)
        if self.first is None or self.last is None or n < 2 or self.last <= self.first:
            return None
        return n / (self.last - self.first)

    def to_json(self) -> dict[str, Any]:
        p50, p95, fps = self.percentile_ms(50), self.percentile_ms(95), self.fps
        return {
            "stage": self.name,
            "type": self.type,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "drops": self.drops,
            "latency_p50_ms": None if p50 is None else round(p50, 3),
            "latency_p95_ms": None if p95 is None else round(p95, 3),
            "fps": None if fps is None else round(fps, 2),
            "e2e_p50_ms": _round(self.e2e_ms(50)),
            "e2e_p95_ms": _round(self.e2e_ms(95)),
            "busy_s": round(self.busy, 4),
            "blocked_s": round(self.blocked, 4),
            **self.counters,
        }


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def summary_table(metrics: list[StageMetrics], wall: float, cpu: float | None = None) -> str:
    """The per-stage table, then the wall time and, given ``cpu`` (process CPU seconds over the
    same span), how many cores the run kept busy on average."""
    header = [
        "stage",
        "type",
        "in",
        "out",
        "drops",
        "p50 ms",
        "p95 ms",
        "fps",
        "e2e p50 ms",
        "e2e p95 ms",
        "notes",
    ]
    rows = []
    for m in metrics:
        notes = " ".join(f"{k}={v}" for k, v in m.counters.items() if v)
        rows.append(
            [
                m.name,
                m.type,
                str(m.frames_in),
                str(m.frames_out),
                str(m.drops),
                _fmt(m.percentile_ms(50), 2),
                _fmt(m.percentile_ms(95), 2),
                _fmt(m.fps, 1),
                _fmt(m.e2e_ms(50), 1),
                _fmt(m.e2e_ms(95), 1),
                notes,
            ]
        )
    tail = f"wall time {wall:.2f} s"
    if cpu is not None and wall > 0:
        tail += f", CPU time {cpu:.2f} s ({cpu / wall:.1f} cores busy)"
    return format_table(rows, header) + "\n" + tail


class Progress:
    """One status line with a bar and ETA on a terminal; a line per 10% otherwise."""

    def __init__(self, total: int | None, *, stream: TextIO = sys.stderr, enabled: bool = True):
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_decile = -1
        self._drawn = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(done / self.total, 1.0)
            eta = (self.total - done) / rate if rate > 0 else None
            eta_s = "?" if eta is None else f"{int(eta) // 60:d}:{int(eta) % 60:02d}"
            if self.tty:
                width = 28
                fill = int(frac * width)
                bar = "#" * fill + "." * (width - fill)
                text = f"\r[{bar}] {done}/{self.total} {100 * frac:5.1f}%  {rate:6.1f} fps  ETA {eta_s}"
                self.stream.write(text)
                self.stream.flush()
                self._drawn = True
            else:
                decile = int(frac * 10)
                if decile > self._last_decile:
                    self._last_decile = decile
                    print(
                        f"{done}/{self.total} frames ({100 * frac:.0f}%), {rate:.1f} fps, ETA {eta_s}",
                        file=self.stream,
                        flush=True,
                    )
        elif self.tty:
            self.stream.write(f"\r{done} frames  {rate:6.1f} fps  {elapsed:7.1f} s")
            self.stream.flush()
            self._drawn = True

    def finish(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
