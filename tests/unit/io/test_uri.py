"""URI classification and output format choice (no media opened)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.io.uri import camera_index, classify, output_format


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        (0, "camera"),
        ("1", "camera"),
        ("/dev/video2", "camera"),
        ("testsrc", "testsrc"),
        ("udp://127.0.0.1:5000", "network"),
        ("rtsp://cam.local/stream", "network"),
        ("https://example.org/live.m3u8", "network"),
        ("srt://host:9000", "network"),
        ("frames/*.png", "images"),
        ("clip.mp4", "file"),
        ("file:///tmp/clip.mp4", "file"),
    ],
)
def test_classify(uri: int | str, kind: str) -> None:
    assert classify(uri) == kind


def test_folder_is_images(tmp_path: Path) -> None:
    assert classify(str(tmp_path)) == "images"


def test_camera_index_rejects_bool_and_names() -> None:
    assert camera_index(True) is None
    assert camera_index("video.mp4") is None
    assert camera_index(" 3 ") == 3


@pytest.mark.parametrize(
    ("path", "fmt", "expected"),
    [
        ("out.mp4", None, "mp4"),
        ("out.MKV", None, "matroska"),
        ("udp://127.0.0.1:5000", None, "mpegts"),
        ("srt://host:9000", None, "mpegts"),
        ("rtsp://host/live", None, "rtsp"),
        ("out.weird", None, None),
        ("out.weird", "nut", "nut"),
    ],
)
def test_output_format(path: str, fmt: str | None, expected: str | None) -> None:
    assert output_format(path, fmt) == expected
