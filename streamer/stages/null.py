"""``null``: a sink that consumes frames and does nothing.

For benchmarks (measure the graph without the cost of writing) and dry runs::

    - name: out
      type: null
"""

from __future__ import annotations

from streamer.frame import Frame
from streamer.stages.base import Sink, StageParams, register


@register("null")
class Null(Sink):
    """Reads frames and discards them (benchmarks and dry runs)."""

    class Params(StageParams):
        """No parameters besides the common ones."""

    def write(self, frame: Frame) -> None:
        """Drop the frame."""
