"""What kind of thing a source URI or sink path names, without opening it.

Used by ``capture`` to pick a reader and a default mode before anything runs (``streamer check``
stays instant), and by ``encode`` to pick a container format for a URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

SourceKind = Literal["camera", "network", "file", "images", "testsrc"]

# schemes read through PyAV/FFmpeg network protocols; frames arrive at the sender's pace
NETWORK_SCHEMES = frozenset(
    {"udp", "rtp", "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "tcp", "hls"}
)
# container formats for network outputs when the user names none
SCHEME_FORMATS = {
    "udp": "mpegts",
    "srt": "mpegts",
    "tcp": "mpegts",
    "rtp": "rtp_mpegts",
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "rtmp": "flv",
    "rtmps": "flv",
}
# container formats for file outputs by extension
EXTENSION_FORMATS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".avi": "avi",
    ".flv": "flv",
    ".nut": "nut",
}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_GLOB_CHARS = set("*?[")


def scheme(uri: str) -> str | None:
    """The lower-case URL scheme (``udp``), or None for a plain path."""
    m = _SCHEME.match(uri)
    return m.group(1).lower() if m else None


def camera_index(uri: int | str) -> int | str | None:
    """The OpenCV device for a camera URI: an int index, a ``/dev/videoN`` path, or None."""
    if isinstance(uri, bool):
        return None
    if isinstance(uri, int):
        return uri
    text = uri.strip()
    if text.isdigit():
        return int(text)
    if re.fullmatch(r"/dev/video\d+", text):
        return text
    return None


def classify(uri: int | str) -> SourceKind:
    """Camera index or /dev/videoN, network URL, ``testsrc``, image folder or glob, else a file."""
    if camera_index(uri) is not None:
        return "camera"
    text = str(uri).strip()
    if text == "testsrc" or text.startswith("testsrc:"):
        return "testsrc"
    sch = scheme(text)
    if sch in NETWORK_SCHEMES:
        return "network"
    if sch == "file":
        text = text[len("file://") :]
    if _GLOB_CHARS & set(text) or Path(text).expanduser().is_dir():
        return "images"
    return "file"


def output_format(path: str, format: str | None) -> str | None:
    """The container format for an output: as given, from the URL scheme, or the extension.

    None when it cannot be told (the caller reports it).
    """
    if format:
        return format
    sch = scheme(path)
    if sch and sch != "file":
        return SCHEME_FORMATS.get(sch)
    return EXTENSION_FORMATS.get(Path(path).suffix.lower())


def is_url(path: str) -> bool:
    """True for ``scheme://`` outputs other than ``file://``."""
    sch = scheme(path)
    return sch is not None and sch != "file"
