"""Sources that make their own timestamps: ``testsrc`` and image folders/globs.

Both count time by frame: pts = index x ticks-per-frame in a 1/N time base from ``fps``
(default 30: time base 1/30, pts 0, 1, 2, ...). ``loop`` restarts an image sequence with pts
still counting up.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from streamer.errors import SourceError
from streamer.frame import StreamInfo
from streamer.io.picture import fit_image, output_size
from streamer.io.source import RawFrame, VideoSource, frame_timing

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class TestSource(VideoSource):
    """A synthetic pattern: colour gradients, a box that moves, and the frame number printed.

    Endless unless the capture stage's ``frames`` limits it. Deterministic: frame i is the
    same picture on every run.
    """

    __test__ = False  # not a pytest class

    def open(self) -> None:
        w, h = self.spec.width or 640, self.spec.height or 480
        self._rate, self._tb, self._ticks = frame_timing(self.spec.fps)
        y, x = np.mgrid[0:h, 0:w]
        bg = np.empty((h, w, 3), np.uint8)
        bg[..., 0] = x * 255 // max(1, w - 1)
        bg[..., 1] = y * 255 // max(1, h - 1)
        bg[..., 2] = 128
        self._background = bg
        self._index = 0
        self.info = StreamInfo(uri="testsrc", width=w, height=h, time_base=self._tb, rate=self._rate)

    def picture(self, index: int) -> np.ndarray:
        """Frame ``index`` of the pattern."""
        import cv2

        image = self._background.copy()
        h, w = image.shape[:2]
        side = max(8, min(w, h) // 6)
        span_x, span_y = max(1, w - side), max(1, h - side)
        # bounce across the picture: one pass every ~2 s at 30 fps
        px = (index * 8) % (2 * span_x)
        py = (index * 5) % (2 * span_y)
        x0 = px if px < span_x else 2 * span_x - px
        y0 = py if py < span_y else 2 * span_y - py
        image[y0 : y0 + side, x0 : x0 + side] = (255, 255, 255)
        scale = max(0.5, h / 240)
        cv2.putText(
            image,
            str(index),
            (8, int(30 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        return image

    def _read(self) -> Iterator[RawFrame]:
        while not self.stop.is_set():
            i = self._index
            self._index += 1
            yield RawFrame(pixels=self.picture(i), pts=i * self._ticks, time_base=self._tb)

    def _disconnect(self) -> None:
        pass


class ImageSource(VideoSource):
    """Still images from a folder (sorted by name) or a glob, played as a video."""

    def __init__(self, spec: Any, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self._files: list[Path] = []
        self._index = 0  # frames yielded (pts counter, keeps counting across loops)

    def open(self) -> None:
        import cv2

        text = str(self.spec.uri)
        if text.startswith("file://"):
            text = text[len("file://") :]
        folder = Path(text).expanduser()
        if folder.is_dir():
            files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
        else:
            files = [Path(p) for p in sorted(glob.glob(str(folder))) if Path(p).is_file()]
        if not files:
            raise SourceError(
                f"no images found for {text}; expected a folder or glob of "
                f"{'/'.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))} files"
            )
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise SourceError(f"cannot read image {files[0]}; expected a png/jpg/... picture")
        h, w = first.shape[:2]
        w, h = output_size((w, h), self.spec.width, self.spec.height, self.spec.fit)
        self._files = files
        self._rate, self._tb, self._ticks = frame_timing(self.spec.fps)
        self.info = StreamInfo(
            uri=text,
            width=w,
            height=h,
            time_base=self._tb,
            rate=self._rate,
            frame_count=None if self.spec.loop else len(files),
        )

    def _read(self) -> Iterator[RawFrame]:
        import cv2

        assert self.info is not None
        size = (self.info.width, self.info.height)
        self._pass_start = self._index
        for path in self._files:
            if self.stop.is_set():
                return
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self.counters["unreadable"] = self.counters.get("unreadable", 0) + 1
                self.log(f"skipping unreadable image {path}")
                continue
            image = fit_image(image, size, self.spec.fit)  # aspect kept unless fit: stretch
            pts = self._index * self._ticks
            self._index += 1
            yield RawFrame(pixels=cv2.cvtColor(image, cv2.COLOR_BGR2RGB), pts=pts, time_base=self._tb)

    def _rewind(self) -> bool:
        # a pass that yielded nothing (every image unreadable) must not loop forever
        return self._index > getattr(self, "_pass_start", -1)

    def _disconnect(self) -> None:
        pass
