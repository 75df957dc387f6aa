"""Stage types used only by tests of the graph and the runner (registered under t_* names)."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from fractions import Fraction

import numpy as np

from streamer.frame import Frame, StreamInfo
from streamer.stages.base import Mode, Sink, Source, Stage, StageParams, register

COLLECTED: dict[str, list[Frame]] = {}
TRAILING: dict[str, tuple] = {}
CLOSED: list[str] = []
LOCK = threading.Lock()


def reset() -> None:
    COLLECTED.clear()
    TRAILING.clear()
    CLOSED.clear()


@register("t_source")
class CountSource(Source):
    """Test source: N small frames, pts = 512 * index, audio tokens on every frame."""

    class Params(StageParams):
        frames: int = 10
        size: int = 16
        live: bool = False
        interval: float = 0.0
        """seconds between frames (simulates a camera)"""

    @classmethod
    def default_mode(cls, params: StageParams) -> Mode:
        return "live" if getattr(params, "live", False) else "offline"

    def open(self) -> None:
        p = self.params
        self.stream_info = StreamInfo(
            uri="t",
            width=p.size,
            height=p.size,
            time_base=Fraction(1, 15360),
            rate=Fraction(30),
            frame_count=p.frames,
            live=p.live,
        )

    def frames(self) -> Generator[Frame, None, None]:
        p = self.params
        for i in range(p.frames):
            if self.ctx.stop.is_set():
                return
            if p.interval:
                time.sleep(p.interval)
            img = np.full((p.size, p.size, 3), i % 256, np.uint8)
            yield Frame(
                image=img,
                index=i,
                pts=512 * i,
                time_base=Fraction(1, 15360),
                stream=self.stream_info,
                audio=(f"a{i}",),
            )

    def trailing_audio(self) -> tuple:
        return ("tail",)

    def close(self) -> None:
        with LOCK:
            CLOSED.append(self.name)


@register("t_slow")
class Slow(Stage):
    """Test stage: sleeps per frame, passes the frame on."""

    class Params(StageParams):
        seconds: float = 0.01
        fail_at: int | None = None

    def process(self, frame: Frame) -> Frame:
        if self.params.fail_at is not None and frame.index == self.params.fail_at:
            raise ValueError("boom")
        time.sleep(self.params.seconds)
        return frame

    def close(self) -> None:
        with LOCK:
            CLOSED.append(self.name)


@register("t_hold")
class Hold(Stage):
    """Test stage: holds every frame back and releases them all at end of stream."""

    def open(self) -> None:
        self.held: list[Frame] = []

    def process(self, frame: Frame) -> None:
        self.held.append(frame)
        return None

    def flush(self) -> list[Frame]:
        return self.held


@register("t_collect")
class Collect(Sink):
    """Test sink: keeps every frame it gets in COLLECTED[name]."""

    class Params(StageParams):
        seconds: float = 0.0
        fail_open: bool = False

    def open(self) -> None:
        if self.params.fail_open:
            from streamer.errors import SinkError

            raise SinkError("cannot open test sink")
        with LOCK:
            COLLECTED[self.name] = []

    def write(self, frame: Frame) -> None:
        if self.params.seconds:
            time.sleep(self.params.seconds)
        with LOCK:
            COLLECTED[self.name].append(frame)

    def write_trailing_audio(self, packets: tuple) -> None:
        TRAILING[self.name] = packets

    def close(self) -> None:
        with LOCK:
            CLOSED.append(self.name)


@register("t_preview")
class Preview(Collect):
    """Test sink declared like a preview (keeps the newest frame in live mode); collects frames."""

    input_policy = "newest"


@register("t_burst")
class Burst(Stage):
    """Test stage: passes each frame on ``copies`` times (like predict filling a gap)."""

    class Params(StageParams):
        copies: int = 3

    def process(self, frame: Frame) -> list[Frame]:
        return [frame] * self.params.copies
