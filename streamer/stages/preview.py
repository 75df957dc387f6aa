"""``preview``: a graph's explicit live picture for ``streamer run --serve``.

Under ``--serve`` every stage's output can be watched (``/stream/<stage>.mjpg``); a ``preview``
sink names the picture a graph is meant to be watched by, with its own size and JPEG quality,
and is the one the page shows first. It keeps only the newest frame (its input queue drops the
oldest, like ``display``), so it never slows the graph; the JPEG is made by the server's encoder
thread, once per frame for all viewers, and only while someone watches. Without ``--serve`` it
shows nothing (one line says so). Example config::

    - name: web
      type: preview
      input: style
      width: 640      # default width of /stream/web.mjpg (?width= overrides)
      quality: 75

``width`` and ``quality`` can be changed while the graph runs (``PATCH /api/stages/web``).
"""

from __future__ import annotations

from pydantic import Field

from streamer.frame import Frame
from streamer.stages.base import Sink, StageParams, register


@register("preview")
class Preview(Sink):
    """Reads frames and serves the newest as MJPEG under --serve (/stream/<name>.mjpg)."""

    input_policy = "newest"  # a preview: the latest picture, never a slower graph
    runtime_params = frozenset({"width", "quality"})

    class Params(StageParams):
        width: int | None = Field(default=None, ge=16, le=4096)
        """Width of the served picture (aspect kept); default: the frame's own. ``?width=`` overrides."""
        quality: int = Field(default=80, ge=10, le=100)
        """JPEG quality of the stream."""

    params: Params

    def open(self) -> None:
        if self.ctx.serve is None:
            self.log("nothing serves this preview without --serve; run with --serve PORT to watch it")

    def write(self, frame: Frame) -> None:
        """Nothing to do here: the runner hands every stage's frames to the server's frame hub."""
