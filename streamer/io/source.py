"""Video sources behind one ``open_source(spec)``: files and network streams (PyAV), cameras
(OpenCV), image folders/globs and ``testsrc``.

Every source yields ``RawFrame``s (RGB picture or a decoder's planes, pts, time base, audio
packets demuxed before it) and shares one lifecycle: ``open()`` (raises ``SourceError`` with
one line), ``frames()`` (a generator that checks ``stop`` between frames and never blocks
longer than the network timeout), ``trailing_audio()`` and ``close()`` (safe after a failed
open or an abandoned generator, and twice).

Drops and reconnects (network and cameras) are handled here, once, for every reader::

    read ──► Dropped ──► wait delay (doubling up to max_delay, stop-aware) ──► reconnect
                            └── attempts exhausted: SourceError; reconnect=0: end of stream

A reader signals a drop by raising ``Dropped``; a natural end by returning. ``loop`` restarts
finite sources at their end. Keeping pts strictly increasing across loops and reconnects is the
reader's job (it knows its clock); see ``av_source`` for the rules.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from streamer.errors import SourceError
from streamer.frame import Planes, StreamInfo
from streamer.io.uri import classify


@dataclass(frozen=True)
class SourceSpec:
    """What to open and how; mirrors the ``capture`` stage's parameters."""

    uri: int | str
    width: int | None = None
    height: int | None = None
    fit: str = "contain"  # files/streams: contain | pad | crop | stretch (see streamer.io.picture)
    fps: float | None = None
    loop: bool = False
    audio: bool = True
    threads: int = 0
    decoder: str = "cpu"  # auto | cpu | cuvid: NVDEC for files and streams (streamer/io/hwcodec.py)
    reconnect: int = -1
    reconnect_delay: float = 0.5
    reconnect_max_delay: float = 10.0
    timeout: float = 5.0
    name: str = "capture"  # the stage name, for error messages that suggest a --set fix


@dataclass(frozen=True)
class RawFrame:
    """One decoded picture, pts in ``time_base``: ``pixels`` is uint8 HxWx3 RGB (contiguous)
    or, from a decoder, its planes (converted to RGB only when something reads ``image``)."""

    pixels: np.ndarray | Planes
    pts: int
    time_base: Fraction
    audio: tuple[Any, ...] = ()

    @property
    def image(self) -> np.ndarray:
        """The RGB picture (converts the planes on first use)."""
        pixels = self.pixels
        return pixels if isinstance(pixels, np.ndarray) else pixels.rgb()


class Dropped(Exception):
    """Raised by a reader when its stream or device went away (may reconnect)."""


def frame_timing(fps: float | None, default: int = 30) -> tuple[Fraction, Fraction, int]:
    """(rate, time_base, ticks per frame) for sources that make their own timestamps.

    The time base is always 1/N (MP4 wants that): 30 fps -> 1/30 and 1 tick per frame,
    29.97 -> rate 2997/100, time base 1/2997 and 100 ticks per frame.
    """
    rate = Fraction(fps if fps else default).limit_denominator(1001)
    if rate <= 0:
        raise SourceError(f"fps: expected a positive number, got {fps}")
    return rate, Fraction(1, rate.numerator), rate.denominator


class VideoSource(ABC):
    """Base of every reader: the frame loop, looping and reconnect with backoff."""

    live: bool = False

    def __init__(
        self,
        spec: SourceSpec,
        *,
        stop: threading.Event,
        log: Callable[[str], None],
        counters: dict[str, int],
    ) -> None:
        self.spec = spec
        self.stop = stop
        self.log = log
        self.counters = counters
        self.info: StreamInfo | None = None
        self._trailing: tuple[Any, ...] = ()

    @abstractmethod
    def open(self) -> None:
        """Open the file/device/stream and fill ``self.info``; SourceError when impossible."""

    @abstractmethod
    def _read(self) -> Iterator[RawFrame]:
        """Frames of the current connection; return at the end, raise Dropped on a drop."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Release the current connection (safe when there is none)."""

    def _connect(self) -> None:
        """Open a new connection after a drop; raise any exception when it fails."""
        raise NotImplementedError

    def _rewind(self) -> bool:
        """Restart at the beginning for ``loop``; False when this source cannot."""
        return False

    def close(self) -> None:
        """Release everything; idempotent."""
        self._disconnect()

    def trailing_audio(self) -> tuple[Any, ...]:
        """Audio packets demuxed after the last frame (valid once ``frames()`` ended)."""
        return self._trailing

    def frames(self) -> Iterator[RawFrame]:
        """Frames until the end (looping if asked), a stop, or reconnects run out."""
        if self.info is None:
            raise RuntimeError("VideoSource.frames() called before open()")
        while not self.stop.is_set():
            try:
                yield from self._read()
            except Dropped as exc:
                if self._reconnect(str(exc)):
                    continue
                return
            if self.stop.is_set() or not self.spec.loop or not self._rewind():
                return

    def _reconnect(self, reason: str) -> bool:
        """Reconnect with doubling backoff; False to end the stream (off or stopped)."""
        spec = self.spec
        if spec.reconnect == 0:
            self.log(f"stream dropped ({reason}); reconnect is off, ending the stream")
            return False
        self._disconnect()
        delay = max(0.0, spec.reconnect_delay)
        attempt = 0
        while spec.reconnect < 0 or attempt < spec.reconnect:
            attempt += 1
            limit = "inf" if spec.reconnect < 0 else str(spec.reconnect)
            self.log(f"stream dropped ({reason}); reconnect attempt {attempt}/{limit} in {delay:.1f} s")
            if self.stop.wait(delay):
                return False
            try:
                self._connect()
            except Exception as exc:  # noqa: BLE001 - any failure to reconnect is retried
                self._disconnect()
                reason = _one_line(exc)
                self.counters["reconnect_failures"] = self.counters.get("reconnect_failures", 0) + 1
                delay = min(max(delay * 2, 0.1), max(spec.reconnect_max_delay, delay))
                continue
            self.counters["reconnects"] = self.counters.get("reconnects", 0) + 1
            self.log(f"reconnected to {spec.uri} (attempt {attempt})")
            return True
        raise SourceError(
            f"{spec.uri}: stream dropped and {spec.reconnect} reconnect attempts failed "
            f"(last: {reason}); check the sender or raise {spec.name}.reconnect"
        )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_source(
    spec: SourceSpec,
    *,
    stop: threading.Event | None = None,
    log: Callable[[str], None] = lambda message: None,
    counters: dict[str, int] | None = None,
) -> VideoSource:
    """Build (not open) the reader for ``spec.uri``; call ``open()`` next."""
    kind = classify(spec.uri)
    kwargs: dict[str, Any] = {
        "stop": stop if stop is not None else threading.Event(),
        "log": log,
        "counters": counters if counters is not None else {},
    }
    if kind == "camera":
        from streamer.io.camera import CameraSource

        return CameraSource(spec, **kwargs)
    if kind == "testsrc":
        from streamer.io.synthetic import TestSource

        return TestSource(spec, **kwargs)
    if kind == "images":
        from streamer.io.synthetic import ImageSource

        return ImageSource(spec, **kwargs)
    from streamer.io.av_source import AvSource

    return AvSource(spec, network=kind == "network", **kwargs)
