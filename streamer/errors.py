"""Errors a user can cause. Each renders as one line on stderr (a traceback only with --debug)."""

from __future__ import annotations


class StreamerError(Exception):
    """Base for errors that the CLI prints as one line and exits non-zero."""


class GraphError(StreamerError):
    """The graph YAML or an override is invalid (raised before anything runs).

    May carry several problems of one graph (``messages``, one line each); ``str()`` joins them
    with newlines and the CLI prints each on its own ``error:`` line."""

    def __init__(self, message: str | list[str]) -> None:
        self.messages = [message] if isinstance(message, str) else list(message)
        super().__init__("\n".join(self.messages))


class SourceError(StreamerError):
    """A source cannot be opened or read (missing file, camera, network)."""


class SinkError(StreamerError):
    """A sink cannot be opened or written (bad path, no display, encoder missing)."""


class StageError(StreamerError):
    """A stage failed while the graph ran; names the stage and the frame."""

    def __init__(self, stage: str, frame: int | None, cause: BaseException) -> None:
        where = f"stage '{stage}'" + (f" on frame {frame}" if frame is not None else "")
        detail = str(cause) if isinstance(cause, StreamerError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{where}: {detail}")
        self.stage = stage
        self.frame = frame
        self.cause = cause
