"""``display``: show frames in an OpenCV window (live preview).

Example config::

    - name: out
      type: display
      title: webcam        # default: the stage name
      fit: true            # shrink pictures larger than 1280x720 to fit

Press ``q`` or ``Esc`` in the window, or close it, to stop the graph (``close_stops``). Without a
display (a server, a container, SSH without X forwarding) the stage fails at open with one line
that suggests writing a file instead. The window is created in ``open()`` and drawn in ``write()``;
OpenCV's HighGUI wants both on the same thread, which the runner's one-thread-per-stage gives.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from streamer.errors import SinkError
from streamer.frame import Frame
from streamer.stages.base import Sink, StageParams, register

FIT_WIDTH, FIT_HEIGHT = 1280, 720
_STOP_KEYS = (ord("q"), ord("Q"), 27)  # 27: Esc


def _no_display_reason() -> str | None:
    """Why no window can be opened here, or None when a display looks available."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "DISPLAY and WAYLAND_DISPLAY are not set"
    return None


def _first_line(error: BaseException) -> str:
    """cv2.error messages span several lines; keep the one that says what went wrong."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()
    return lines[-1] if lines else type(error).__name__


@register("display")
class Display(Sink):
    """Reads frames and shows them in a window; q, Esc or closing it stops the graph."""

    input_policy = "newest"  # a preview: show the latest picture, never slow the graph down

    class Params(StageParams):
        title: str | None = None
        """Window title; default: the stage name."""

        fit: bool = True
        """Shrink pictures larger than 1280x720 to fit (keeping the aspect ratio)."""

        close_stops: bool = True
        """Pressing q or Esc, or closing the window, stops the graph."""

    params: Params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = False
        self._shown = False
        self._closed_by_user = False

    @property
    def title(self) -> str:
        return self.params.title or self.name

    def _fail(self, why: str) -> SinkError:
        return SinkError(
            f"stage '{self.name}' (display): no display ({why}); write a file instead, "
            f"e.g. replace this stage with `type: encode` and `path: out.mp4`"
        )

    def open(self) -> None:
        why = _no_display_reason()
        if why is not None:
            raise self._fail(why)
        import cv2

        try:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise self._fail(_first_line(e)) from None
        self._open = True

    def write(self, frame: Frame) -> None:
        if not self._open or self._closed_by_user:
            return
        import cv2

        if self._shown and self._window_gone(cv2):
            # imshow would silently open a new window; respect the user's close instead
            self._closed_by_user = True
            self._stop("window closed")
            return
        image = frame.image
        if self.params.fit and (frame.width > FIT_WIDTH or frame.height > FIT_HEIGHT):
            scale = min(FIT_WIDTH / frame.width, FIT_HEIGHT / frame.height)
            size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self._shown = True
        key = cv2.waitKey(1)
        if key != -1 and (key & 0xFF) in _STOP_KEYS:
            self._stop("key pressed")

    def _window_gone(self, cv2: Any) -> bool:
        try:
            return bool(cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1)
        except cv2.error:
            return True

    def _stop(self, why: str) -> None:
        if self.params.close_stops and not self.ctx.stop.is_set():
            self.log(f"{why}, stopping")
            self.ctx.stop.set()

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the GUI process the destroy event
        except cv2.error:
            pass
