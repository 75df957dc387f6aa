"""Two probe stages for benchmarks/gpu.py's live measurement: ``bench_stamp`` notes when each
decoded frame enters the graph, ``bench_latency`` (a sink beside encode) how long after that it
leaves translate. Registered on import; used by no shipped graph."""

from __future__ import annotations

import threading
import time

from streamer.frame import Frame
from streamer.stages.base import Sink, Stage, register

_lock = threading.Lock()
STAMPS: dict[int, float] = {}
LATENCIES: list[float] = []


def reset() -> None:
    with _lock:
        STAMPS.clear()
        LATENCIES.clear()


@register("bench_stamp")
class BenchStamp(Stage):
    """Notes the time each frame enters the graph (benchmarks only); passes it on."""

    def process(self, frame: Frame) -> Frame:
        with _lock:
            STAMPS[frame.index] = time.perf_counter()
        return frame


@register("bench_latency")
class BenchLatency(Sink):
    """Records each frame's latency since bench_stamp saw it (benchmarks only)."""

    def write(self, frame: Frame) -> None:
        now = time.perf_counter()
        with _lock:
            start = STAMPS.pop(frame.index, None)
            if start is not None:
                LATENCIES.append(now - start)
