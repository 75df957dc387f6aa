"""``frames``: one PNG per frame, named by frame index, for regression tests and inspection.

Example config (small references for ``tests/graphs``)::

    - name: ref
      type: frames
      dir: out/frames
      width: 160      # downscale (keeping aspect) so references stay small
      every: 5        # frames 0, 5, 10, ...

Files are ``dir/{index:06d}.png``; because the name is the source frame index, two runs of the
same graph can be compared file by file. With ``clean`` (default) old frame files in ``dir``
(names of six or more digits + ``.png``) are removed at open, so stale frames of a longer
previous run never mix in; other files there are left alone.

Files (DESIGN 3.4b): each PNG is written as ``.000012.png.partial`` and renamed, so a kill never
leaves a truncated PNG under a frame's name; the folder is locked (``.dir.lock`` beside it)
while a run writes it, and a folder a stage reads (an image-folder capture) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from streamer.errors import SinkError
from streamer.frame import Frame
from streamer.io.output_file import OutputFile, write_atomic
from streamer.stages.base import Sink, StageParams, register

_FRAME_FILE = re.compile(r"^\d{6,}\.png$")
# zlib level 3: files ~10% larger than level 9 at a fraction of the time
_PNG_COMPRESSION = 3


@register("frames")
class Frames(Sink):
    """Reads frames and writes each as dir/{index:06d}.png."""

    input_policy = "block"  # a recording: one file per frame that reaches it

    class Params(StageParams):
        dir: str
        """Folder for the PNG files (created if missing)."""

        width: int | None = Field(default=None, ge=1, le=16384)
        """Downscale wider frames to this width, keeping the aspect ratio; None: as is."""

        every: int = Field(default=1, ge=1)
        """Write only frames whose index is a multiple of this."""

        clean: bool = True
        """Remove old frame files (000123.png ...) from the folder at open."""

    params: Params

    @classmethod
    def output_paths(cls, params: StageParams) -> list[tuple[str, str, bool]]:
        """The output folder."""
        assert isinstance(params, Frames.Params)
        return [("dir", params.dir, True)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dir: Path | None = None
        self._out: OutputFile | None = None

    def open(self) -> None:
        """Lock the folder, make it, and (with ``clean``) remove old frame files."""
        d = Path(self.params.dir).expanduser()
        out = OutputFile(d, what=f"stage '{self.name}' (frames): key 'dir'")
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
            out.acquire()
            self._out = out
            d.mkdir(parents=True, exist_ok=True)
            if self.params.clean:
                for p in d.iterdir():
                    if _FRAME_FILE.match(p.name) and p.is_file():
                        p.unlink()
        except OSError as e:
            raise SinkError(
                f"stage '{self.name}' (frames): cannot use '{d}' as the output folder "
                f"({e.strerror or e}); expected a writable directory"
            ) from None
        self._dir = d

    def write(self, frame: Frame) -> None:
        if self._dir is None:
            raise SinkError(f"stage '{self.name}' (frames): write() before open()")
        if frame.index % self.params.every:
            return
        import cv2

        image = frame.image
        width = self.params.width
        if width is not None and frame.width > width:
            height = max(1, round(frame.height * width / frame.width))
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ok, png = cv2.imencode(
            ".png",
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION],
        )
        path = self._dir / f"{frame.index:06d}.png"
        try:
            if not ok:
                raise OSError("PNG encoder failed")
            write_atomic(path, png.tobytes())
        except OSError as e:
            raise SinkError(
                f"stage '{self.name}' (frames): cannot write '{path}' ({e.strerror or e})"
            ) from None

    def close(self) -> None:
        """Release the folder's lock."""
        out, self._out = self._out, None
        if out is not None:
            out.release()
