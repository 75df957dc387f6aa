"""The newest frame of every stage, JPEG-encoded once per frame for all viewers of a stream.

Trade-off: a viewer must never slow the graph down, and many viewers must not cost more than one.
So the graph's side is a single reference swap per frame (:meth:`FrameHub.offer`, called by the
runner's ``observe`` hook on the stage's worker thread: no copy, no encoding, no waiting), and the
work happens on one encoder thread per watched (stage, width): it wakes when a newer frame came,
encodes only the newest (frames that arrive while it encodes are skipped, never queued) and hands
the JPEG bytes to every viewer's coroutine. A viewer that reads slowly only ever gets the newest
JPEG when it is ready for the next one. An encoder thread ends a few seconds after its last viewer
has gone.

Example::

    hub = FrameHub(["cam", "style"])
    runner.observe = hub.offer
    stream = hub.subscribe("style", width=640, loop=asyncio.get_running_loop())
    jpeg, seq = await stream.next(after=0, timeout=1.0)
    hub.unsubscribe(stream)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from streamer.frame import Frame

#: JPEG quality of the streams, unless a ``preview`` stage says otherwise.
QUALITY = 80
#: Seconds an encoder thread waits for a frame before it checks whether it still has viewers.
WAKE = 0.5
#: Seconds an encoder thread outlives its last viewer (a page reload reconnects at once).
LINGER = 3.0


class _Slot:
    """The newest frame a stage output, and how many it has output so far."""

    __slots__ = ("cond", "frame", "seq")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.frame: Frame | None = None
        self.seq = 0


def encode_jpeg(frame: Frame, width: int | None, quality: int) -> bytes:
    """The frame's picture as JPEG, scaled down to ``width`` (aspect kept) when it is wider; never
    up (a bigger picture would only cost bandwidth)."""
    import cv2

    image = frame.image
    h, w = image.shape[:2]
    if width is not None and width < w:
        height = max(2, round(h * width / w))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 HxWx3
        raise RuntimeError("JPEG encoding failed")
    return bytes(data)


class Stream:
    """One encoded stream: a stage at one width, shared by all its viewers."""

    def __init__(
        self,
        hub: FrameHub,
        stage: str,
        width: int | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.hub = hub
        self.stage = stage
        self.width = width
        self.loop = loop
        self.viewers = 0
        self.jpeg: bytes | None = None
        self.seq = 0  # JPEGs encoded so far
        self.encoded = 0  # same, for tests and /api/metrics
        self.idle_since: float | None = None
        self._wake_event = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name=f"mjpeg-{stage}-{width}", daemon=True)

    # ---- encoder thread ---------------------------------------------------------------------
    def _run(self) -> None:
        import time

        slot = self.hub.slot(self.stage)
        seen = 0
        while not self.hub.closed.is_set():
            with slot.cond:
                if slot.seq == seen:
                    slot.cond.wait(WAKE)
                frame, seq = slot.frame, slot.seq
            with self.hub.lock:
                if self.viewers == 0:
                    now = time.monotonic()
                    self.idle_since = self.idle_since or now
                    if now - self.idle_since > LINGER:
                        self.hub.forget(self)
                        return
                else:
                    self.idle_since = None
            if frame is None or seq == seen:
                continue
            seen = seq
            try:
                jpeg = encode_jpeg(frame, self.width, self.hub.quality(self.stage))
            except Exception:  # noqa: BLE001 - a picture that cannot be shown is skipped, never fatal
                continue
            self.jpeg, self.seq = jpeg, self.seq + 1
            self.encoded += 1
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the server's loop has closed
                return

    # ---- server loop ------------------------------------------------------------------------
    def _wake(self) -> None:
        event, self._wake_event = self._wake_event, asyncio.Event()
        event.set()

    async def next(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG once it is newer than number ``after`` (None after ``timeout`` s)."""
        if self.seq <= after:
            event = self._wake_event
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:  # TimeoutError from 3.11 on; distinct on 3.10
                pass
        return (self.jpeg, self.seq) if self.seq > after else (None, after)


class FrameHub:
    """The newest output frame of each stage, and the MJPEG streams made of them."""

    def __init__(self, stages: list[str], *, quality: Callable[[str], int] | None = None) -> None:
        self._slots = {name: _Slot() for name in stages}
        self._streams: dict[tuple[str, int | None], Stream] = {}
        self._quality = quality
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def slot(self, stage: str) -> _Slot:
        return self._slots[stage]

    def __contains__(self, stage: object) -> bool:
        return stage in self._slots

    def set_quality(self, quality: Callable[[str], int]) -> None:
        """Where each stream's JPEG quality comes from (a ``preview`` stage's param)."""
        self._quality = quality

    def quality(self, stage: str) -> int:
        return self._quality(stage) if self._quality is not None else QUALITY

    def offer(self, stage: str, frame: Frame) -> None:
        """The runner's hook: ``frame`` is ``stage``'s newest output. A reference swap, never a wait
        beyond an uncontended lock."""
        slot = self._slots.get(stage)
        if slot is None:
            return
        with slot.cond:
            slot.frame = frame
            slot.seq += 1
            slot.cond.notify_all()

    def subscribe(self, stage: str, width: int | None, loop: asyncio.AbstractEventLoop) -> Stream:
        """A viewer of ``stage`` at ``width``: joins the stream's encoder, starting it if needed."""
        with self.lock:
            stream = self._streams.get((stage, width))
            if stream is None:  # none yet, or its encoder ended (``forget``, under this lock)
                stream = Stream(self, stage, width, loop)
                self._streams[(stage, width)] = stream
                stream.thread.start()
            stream.viewers += 1
            return stream

    def unsubscribe(self, stream: Stream) -> None:
        with self.lock:
            stream.viewers = max(0, stream.viewers - 1)

    def forget(self, stream: Stream) -> None:
        """An encoder thread without viewers ends (called with ``lock`` held)."""
        if self._streams.get((stream.stage, stream.width)) is stream:
            del self._streams[(stream.stage, stream.width)]

    def stats(self) -> dict[str, Any]:
        """Streams being encoded: viewers and JPEGs so far, per ``stage@width``."""
        with self.lock:
            return {
                f"{s.stage}@{s.width or 'full'}": {"viewers": s.viewers, "encoded": s.encoded}
                for s in self._streams.values()
            }

    def close(self) -> None:
        """Stop every encoder thread (each within ``WAKE`` seconds)."""
        self.closed.set()
        for slot in self._slots.values():
            with slot.cond:
                slot.cond.notify_all()
        with self.lock:
            threads = [s.thread for s in self._streams.values()]
        for t in threads:
            t.join(timeout=2 * WAKE)
