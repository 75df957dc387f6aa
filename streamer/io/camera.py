"""Cameras through OpenCV: an index (``0``) or a ``/dev/videoN`` path.

Timestamps are wall-clock milliseconds since ``open()`` (time base 1/1000, monotonic clock),
so they stay strictly increasing across reconnects and show the real gaps of a dropped camera.
A camera that fails to read is released and reopened with backoff (``VideoSource``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

from streamer.errors import SourceError
from streamer.frame import StreamInfo
from streamer.io.source import Dropped, RawFrame, VideoSource
from streamer.io.uri import camera_index

TIME_BASE = Fraction(1, 1000)


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's warnings while probing devices (we report one line ourselves)."""
    import cv2

    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # pragma: no cover - builds without the logging module
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


class CameraSource(VideoSource):
    """A local camera read by OpenCV, with the size and rate requested in the spec."""

    live = True

    def __init__(self, spec: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self._cap: Any = None
        self._start = 0.0
        self._last = -1
        self._first: Any = None

    def _open_device(self) -> tuple[Any, Any]:
        import cv2

        device: Any = camera_index(self.spec.uri)
        with _quiet_opencv():
            cap = cv2.VideoCapture(device)
            if cap.isOpened():
                if self.spec.width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.spec.width)
                if self.spec.height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.spec.height)
                if self.spec.fps:
                    cap.set(cv2.CAP_PROP_FPS, self.spec.fps)
                ok, image = cap.read()
            else:
                ok, image = False, None
        if not ok or image is None:
            cap.release()
            raise SourceError(
                f"camera {self.spec.uri} could not be opened; no camera here? "
                f"run on a file with --set {self.spec.name}.uri=FILE"
            )
        return cap, image

    def open(self) -> None:
        import cv2

        self._cap, first = self._open_device()
        self._start = time.monotonic()
        h, w = first.shape[:2]
        fps = self.spec.fps or self._cap.get(cv2.CAP_PROP_FPS) or 30
        self._first = first
        self.info = StreamInfo(
            uri=str(self.spec.uri),
            width=w,
            height=h,
            time_base=TIME_BASE,
            rate=Fraction(fps).limit_denominator(1001),
            frame_count=None,
            live=True,
        )

    def _connect(self) -> None:
        self._cap, self._first = self._open_device()

    def _disconnect(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def _read(self) -> Iterator[RawFrame]:
        import cv2

        assert self.info is not None
        size = (self.info.width, self.info.height)
        while not self.stop.is_set():
            image, self._first = self._first, None
            if image is None:
                ok, image = self._cap.read()
                if not ok or image is None:
                    raise Dropped(f"camera {self.spec.uri} stopped delivering frames")
            if (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            pts = max(self._last + 1, int((time.monotonic() - self._start) * 1000))
            self._last = pts
            yield RawFrame(pixels=rgb, pts=pts, time_base=TIME_BASE)
