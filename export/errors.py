"""The one error type of ``python -m export``: printed as one line, exit code 1."""

from __future__ import annotations

from streamer.errors import StreamerError


class ExportError(StreamerError):
    """A user-caused export failure (bad checkpoint, wrong family, failed parity check)."""
