"""``events``: one JSON object per frame, one per line (the contract of DESIGN 3.3).

Example config, fed by the same stage as the video output::

    - name: events
      type: events
      input: overlay
      path: out/events.jsonl     # "-" writes to standard output

Each line is ``{"frame": index, "pts": pts, "time": seconds, "faces": [...]}`` with the faces of
``Face.to_json``; keys a graph does not compute are ``null``. Lines are written live (users tail
the file while the graph runs), each with a single unbuffered write, so a crash or a kill never
leaves half a line behind.

Files (DESIGN 3.4b): lines go to ``events.partial.jsonl`` beside ``events.jsonl`` (tail that one
while the graph runs), renamed to ``events.jsonl`` when the run ends or is stopped; a failed or
killed run leaves the partial file and an older ``events.jsonl`` untouched. With ``append`` the
lines are appended to ``events.jsonl`` itself (appending whole lines destroys nothing). As with
``encode``, no file is made before the first frame. A path another writer holds is refused
(``streamer.io.output_file``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any

from streamer.errors import SinkError
from streamer.frame import Ann, Frame
from streamer.io.output_file import OutputFile
from streamer.stages.base import Sink, StageIO, StageParams, register, stage_io


def _finite(value: Any) -> Any:
    """NaN / infinity are not JSON: write them as null so every line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def event_json(frame: Frame) -> dict[str, Any]:
    """The per-frame object of DESIGN 3.3."""
    return {
        "frame": int(frame.index),
        "pts": int(frame.pts),
        "time": round(frame.time, 6),
        "faces": [_finite(face.to_json()) for face in frame.faces],
    }


@register("events")
class Events(Sink):
    """Reads face annotations and writes one JSON line per frame (DESIGN 3.3)."""

    input_policy = "block"  # a recording: one line per frame that reaches it

    class Params(StageParams):
        path: str
        """File to write (parent folders are created); "-" writes to standard output."""

        append: bool = False
        """Append to an existing file instead of starting it afresh."""

    params: Params

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        return stage_io(uses=(Ann.FACES, Ann.IDENTITIES, Ann.FAKE_SCORES))

    @classmethod
    def output_paths(cls, params: StageParams) -> list[tuple[str, str, bool]]:
        """The events file (standard output is not a file)."""
        assert isinstance(params, Events.Params)
        return [] if params.path == "-" else [("path", params.path, False)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fd: int | None = None
        self._stdout: IO[str] | None = None
        self._path: Path | None = None
        self._out: OutputFile | None = None

    def open(self) -> None:
        """Make the folder and take the path's lock; the file itself opens with the first line,
        so a run that never starts leaves every file (an earlier partial one too) as it was."""
        if self.params.path == "-":
            self._stdout = sys.stdout
            return
        path = Path(self.params.path).expanduser()
        out = OutputFile(path, what=f"stage '{self.name}' (events): key 'path'")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            out.check_target()
            out.acquire()
        except OSError as e:
            out.release()
            raise SinkError(self._cannot_open(path, e)) from None
        self._out = out

    def _cannot_open(self, path: Path, e: OSError) -> str:
        return (
            f"stage '{self.name}' (events): cannot open '{path}' for writing "
            f"({e.strerror or e}); expected a writable file path"
        )

    def _open_file(self, out: OutputFile) -> int:
        """The partial file (truncated), or the file itself to append."""
        append = self.params.append
        note = None if append else out.left_over()
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        self._path = out.target if append else out.partial
        try:
            fd = os.open(self._path, flags, 0o644)
        except OSError as e:
            raise SinkError(self._cannot_open(out.requested, e)) from None
        if note:
            self.log(note)
        if not append:
            self.log(f"writing {out.requested} (as {out.shown} until finalised)")
        return fd

    def write(self, frame: Frame) -> None:
        line = json.dumps(event_json(frame), ensure_ascii=False) + "\n"
        if self._stdout is not None:
            self._stdout.write(line)
            self._stdout.flush()
            return
        if self._fd is None:
            if self._out is None:
                raise SinkError(f"stage '{self.name}' (events): write() before open()")
            self._fd = self._open_file(self._out)
        data = memoryview(line.encode("utf-8"))
        try:
            while data:  # one write() per line; loop only on a short write
                n = os.write(self._fd, data)
                data = data[n:]
        except OSError as e:
            raise SinkError(
                f"stage '{self.name}' (events): cannot write '{self._path}' ({e.strerror or e})"
            ) from None

    def close(self) -> None:
        """Close the file; rename the partial file to the final name unless a stage failed."""
        if self._stdout is not None:
            self._stdout.flush()
            self._stdout = None
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        out, self._out = self._out, None
        if out is None:
            return
        if fd is None or self.params.append:  # no line written: nothing made, nothing replaced
            out.release()
        elif self.ctx.failed.is_set():
            self.log(out.keep_partial())
        else:
            out.commit()
