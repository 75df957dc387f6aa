"""Timestamp repair for decoded video and demuxed audio: pure Python (no PyAV), so every rule is
tested on recorded pts sequences (``tests/unit/io/test_timestamps.py``).

A container's timestamps are wrong in a few distinct ways, and each has its own fix and its own
counter in the capture stage's ``counters`` (the run summary and ``--json`` show them):

``pts_reordered``
    The pts of frames in output order are a permutation of the right ones: DivX/Xvid "packed
    B-frames" in AVI come out 1, 3, 2, 5, 4, ... A window of ``depth`` frames holds the newest
    frames and hands the *smallest* pts in the window to the *oldest* frame: the pictures stay
    in the decoder's (display) order, the permutation is undone, and nothing is offset. A
    sorted stream goes through unchanged, so the window costs ``depth`` frames of latency and
    nothing else (files use 4; live streams only when the codec reorders).
``pts_missing``
    A frame without pts in a stream that has them gets the previous pts + one frame.
``pts_from_rate``
    Raw elementary streams (``.h264``, ``.hevc``, ``.m4v``, ``.mpg`` video, ...) carry no
    timestamps; the demuxer's are guesses (FFmpeg assumes 25 fps). Their pts are the frame
    index times the codec's own frame rate (the bitstream's timing info) or ``capture.fps``.
``pts_duplicate`` / ``pts_nonmonotonic``
    A pts equal to (or slightly below) the previous one after the window. It is moved into the
    gap before the next pts when there is one (no lasting change); when there is none (a stream
    with one tick per frame and an extra frame), the rest of the stream moves one frame later.
``pts_discontinuity``
    A real break: the pts jump back by more than the window could explain (a stream restart,
    concatenated recordings, a clock wrap the demuxer did not unwrap), or, in formats that
    allow breaks (MPEG-TS, ``discontinuous``), forward by more than ``FORWARD_JUMP`` seconds.
    The rest of the stream is shifted so that it continues one frame after the last frame.

Variable frame rate is kept as is: uneven but increasing pts are never touched.

Why AVI keeps the demuxer's pts (sorted) instead of being numbered like a raw stream: they
already are chunk numbers at the stream's rate, and numbering *decoded* frames would lose the
slots of empty "drop" chunks (variable-rate captures) and of frames the decoder could not
decode, moving the rest of the video against the audio. Raw streams have no such slots.

Audio and video stay in sync because only discontinuities shift anything for good, and both
streams see the same break: the first stream to see one records it in a shared
:class:`Breaks` (the raw jump and the resulting offset, in seconds) and the other stream, when
it sees a jump of about the same size, applies the same offset. Reordering, duplicates and
missing pts are fixed locally and never move the audio.

Example (packed B-frames, one tick per frame)::

    counters: dict[str, int] = {}
    video = VideoTimeline(step=1, depth=2, counters=counters)
    out = [pts for p in (1, 3, 2, 5, 4) for pts, _ in video.push(p, p)]
    out += [pts for pts, _ in video.flush()]
    # out == [1, 2, 3, 4, 5]; counters == {"pts_reordered": 4}
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Generic, TypeVar

T = TypeVar("T")

FORWARD_JUMP = Fraction(10)  # seconds; FFmpeg's -dts_delta_threshold default for such formats
MATCH = Fraction(1)  # seconds: two streams' jumps this close are the same break
AUDIO_BACK = Fraction(1, 2)  # seconds: audio dts this far back is a break, less is dropped

# demuxers of raw elementary streams: no timestamps, only a frame rate in the bitstream
RAW_FORMATS = frozenset(
    {"h264", "hevc", "vvc", "m4v", "mpegvideo", "h263", "h261", "cavsvideo", "avs2", "avs3", "vc1",
     "dirac", "mjpeg", "rawvideo"}
)  # fmt: skip


def _bump(counters: dict[str, int], key: str, n: int = 1) -> None:
    counters[key] = counters.get(key, 0) + n


@dataclass
class Break:
    """One discontinuity: the raw jump (seconds) and the offset applied after it (seconds)."""

    jump: Fraction
    offset: Fraction
    seen_by: set[str] = field(default_factory=set)


class Breaks:
    """Discontinuities shared by the video and audio timelines of one source (see module doc)."""

    def __init__(self) -> None:
        self.items: list[Break] = []

    def offset_for(self, stream: str, jump: Fraction, own: Fraction) -> Fraction:
        """The offset ``stream`` applies after a jump: another stream's for the same break
        (a jump within ``MATCH``), else ``own``, recorded for the others."""
        for b in self.items:
            if stream not in b.seen_by and abs(b.jump - jump) <= MATCH:
                b.seen_by.add(stream)
                return b.offset
        self.items.append(Break(jump, own, {stream}))
        return own

    def clear(self) -> None:
        self.items.clear()


class VideoTimeline(Generic[T]):
    """Repairs video pts in decoder output order; ``push`` and ``flush`` return (pts, item)
    pairs in the same order the items came in, with strictly increasing pts.

    ``step``: ticks per nominal frame. ``depth``: the reorder window (frames). ``from_rate``:
    ignore incoming pts and number frames (raw streams). ``forward_breaks``: a forward jump
    over ``FORWARD_JUMP`` is a discontinuity (formats that allow them). ``time_base`` is only
    needed to share breaks with the audio (``breaks``).
    """

    def __init__(
        self,
        *,
        step: int,
        depth: int = 0,
        counters: dict[str, int],
        from_rate: bool = False,
        forward_breaks: bool = False,
        time_base: Fraction = Fraction(1, 1),
        breaks: Breaks | None = None,
        offset: int = 0,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.step = max(1, int(step))
        self.depth = max(0, int(depth))
        self.counters = counters
        self.from_rate = from_rate
        self.forward_breaks = forward_breaks
        self.time_base = Fraction(time_base)
        self.breaks = breaks if breaks is not None else Breaks()
        self.log = log
        self.offset = offset  # ticks added to incoming pts (breaks, segment starts)
        self.late = 0  # ticks added on the way out (duplicates without room)
        self.last: int | None = None  # last pts handed out
        self._hi: int | None = None  # highest (shifted) pts pushed in this segment
        self._raw_hi: int | None = None
        self._items: deque[tuple[T, int | None]] = deque()
        self._heap: list[int] = []
        self._count = 0  # frames pushed (from_rate numbering)

    def start_segment(self, offset: int) -> None:
        """A new pass or connection (loop, reconnect): incoming pts get ``offset``; no break is
        detected across the boundary. Call after ``flush``."""
        self.offset = offset
        self.late = 0
        self._hi = self._raw_hi = None
        self._count = 0

    def push(self, pts: int | None, item: T) -> list[tuple[int, T]]:
        """Take one frame (its pts in the timeline's ticks, or None); return the frames that
        leave the window."""
        if self.from_rate:
            pts = self._count * self.step
            self._count += 1
            _bump(self.counters, "pts_from_rate")
        if pts is not None:
            pts = self._shift_breaks(pts)
            heapq.heappush(self._heap, pts)
        self._items.append((item, pts))
        out = []
        while len(self._items) > self.depth:
            out.append(self._pop())
        return out

    def flush(self) -> list[tuple[int, T]]:
        """Everything still in the window (end of a segment or of the stream)."""
        out = []
        while self._items:
            out.append(self._pop())
        return out

    def _shift_breaks(self, raw: int) -> int:
        pts = raw + self.offset
        hi = self._hi
        if hi is not None:
            back = pts < hi - (self.depth + 1) * self.step
            forward = self.forward_breaks and (pts - hi) * self.time_base > FORWARD_JUMP
            if back or forward:
                jump = (pts - hi) * self.time_base
                own = (self.offset + hi + self.step - pts) * self.time_base
                new = self.breaks.offset_for("video", jump, own)
                self.offset = round(new / self.time_base)
                pts = raw + self.offset
                if pts <= hi:  # the other stream's offset would overlap: continue after hi
                    self.offset += hi + self.step - pts
                    pts = raw + self.offset
                _bump(self.counters, "pts_discontinuity")
                self.log(
                    f"timestamps jump {'back' if back else 'forward'} by {float(abs(jump)):.3f} s "
                    f"(discontinuity); the rest of the stream continues one frame later"
                )
        self._hi = pts if hi is None else max(hi, pts)
        return pts

    def _pop(self) -> tuple[int, T]:
        item, own = self._items.popleft()
        if own is not None:
            pts = heapq.heappop(self._heap) + self.late
            if own + self.late != pts and not self.from_rate:
                _bump(self.counters, "pts_reordered")
        else:  # a frame without pts: one frame after the last
            if self.last is not None:
                pts = self.last + self.step
            elif self._heap:
                pts = self._heap[0] + self.late - self.step
            else:
                pts = 0
            _bump(self.counters, "pts_missing")
        last = self.last
        if last is not None and pts <= last:
            _bump(self.counters, "pts_duplicate" if pts == last else "pts_nonmonotonic")
            nxt = self._heap[0] + self.late if self._heap else None
            if nxt is not None and nxt - last >= 2:
                pts = last + min(self.step, (nxt - last) // 2)
            else:
                self.late += last + self.step - pts
                pts = last + self.step
        self.last = pts
        return pts, item


class AudioTimeline:
    """Offsets for audio packets (dts in the audio time base): follows the video's breaks and
    detects its own (see module doc). ``adjust`` returns the offset to add to a packet."""

    def __init__(
        self,
        *,
        time_base: Fraction,
        counters: dict[str, int],
        breaks: Breaks,
        forward_breaks: bool = False,
        offset: int = 0,
    ) -> None:
        self.time_base = Fraction(time_base)
        self.counters = counters
        self.breaks = breaks
        self.forward_breaks = forward_breaks
        self.offset = offset
        self._last: int | None = None  # last shifted dts in this segment
        self._dur = 0

    def start_segment(self, offset: int) -> None:
        self.offset = offset
        self._last = None

    def adjust(self, dts: int, duration: int | None = None) -> int:
        """The offset (ticks) for a packet with this raw dts."""
        at = dts + self.offset
        last = self._last
        if last is not None:
            delta = (at - last) * self.time_base
            if delta < -AUDIO_BACK or (self.forward_breaks and delta > FORWARD_JUMP):
                own = (self.offset + last + max(1, self._dur) - at) * self.time_base
                new = self.breaks.offset_for("audio", delta, own)
                self.offset = round(new / self.time_base)
                at = dts + self.offset
                _bump(self.counters, "audio_discontinuity")
        if last is None or at > last:
            self._last = at
        if duration:
            self._dur = duration
        return self.offset
