"""Per-stage counters, the end-of-run table and the progress line.

Counters are written by one worker thread each and read by the main thread for progress;
plain int/float attribute updates are atomic enough for display, and the summary is read
only after every worker has been joined.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

LATENCY_WINDOW = 20_000  # newest samples kept per stage: an hour-long run stays bounded


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

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return float(np.percentile(np.fromiter(self.latencies, float), q) * 1000.0)

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
            "busy_s": round(self.busy, 4),
            "blocked_s": round(self.blocked, 4),
            **self.counters,
        }


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
    header = ["stage", "type", "in", "out", "drops", "p50 ms", "p95 ms", "fps", "notes"]
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
