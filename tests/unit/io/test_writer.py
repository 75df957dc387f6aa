"""VideoWriter: pts kept, close semantics, containers (mp4, mkv, udp), errors, plain vs fragmented MP4."""

from __future__ import annotations

import socket
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.io import VideoWriter
from tests.unit.io.media import bar_image, free_udp_port

TB = Fraction(1, 15360)


def _decode(path: Path) -> tuple[list[int], list[np.ndarray], object]:
    import av

    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        tb = c.streams.video[0].time_base
        return [f.pts for f in frames], [f.to_ndarray(format="rgb24") for f in frames], tb


def _write(path: str, n: int = 10, **kwargs: object) -> VideoWriter:
    w = VideoWriter(path, **kwargs)  # type: ignore[arg-type]
    w.open()
    for i in range(n):
        w.write(bar_image(i), 512 * i, TB, rate=Fraction(30))
    w.close()
    return w


def test_mp4_keeps_pts_and_pictures(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er" / "out.mp4"  # parent folders are made
    _write(str(out), 12, crf=18)
    pts, images, tb = _decode(out)
    assert tb == TB and pts == [512 * i for i in range(12)]
    assert all(np.abs(im.astype(int) - bar_image(i)).mean() < 6 for i, im in enumerate(images))


def test_mp4_from_frame_rate_time_base_is_exact(tmp_path: Path) -> None:
    w = VideoWriter(str(tmp_path / "a.mp4"))
    w.open()
    for i in range(5):
        w.write(bar_image(i), i, Fraction(1, 30), rate=Fraction(30))
    w.close()
    pts, _, tb = _decode(tmp_path / "a.mp4")
    assert [p * tb for p in pts] == [Fraction(i, 30) for i in range(5)]


def test_mkv_output(tmp_path: Path) -> None:
    _write(str(tmp_path / "out.mkv"), 10)
    pts, images, tb = _decode(tmp_path / "out.mkv")
    assert tb == Fraction(1, 1000) and len(images) == 10
    assert pts == [round(i * 1000 / 30) for i in range(10)]  # matroska rounds to ms


def test_close_without_frames_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "empty.mp4"
    w = _write(str(out), 0)
    w.close()
    assert not out.exists() and w.frames_written == 0


def test_close_twice_and_write_after_close(tmp_path: Path) -> None:
    w = _write(str(tmp_path / "x.mp4"), 3)
    w.close()
    with pytest.raises(SinkError):
        w.write(bar_image(0), 99999, TB)
    assert len(_decode(tmp_path / "x.mp4")[0]) == 3


def test_size_change_is_scaled_and_odd_size_evened(tmp_path: Path) -> None:
    logs: list[str] = []
    w = VideoWriter(str(tmp_path / "s.mp4"), log=logs.append)
    w.open()
    w.write(np.zeros((61, 81, 3), np.uint8), 0, TB)
    w.write(np.zeros((120, 160, 3), np.uint8), 512, TB)
    w.close()
    _, images, _ = _decode(tmp_path / "s.mp4")
    assert [im.shape for im in images] == [(60, 80, 3), (60, 80, 3)]
    assert any("scaled to 80x60" in line for line in logs)


def test_non_increasing_pts_are_fixed(tmp_path: Path) -> None:
    w = VideoWriter(str(tmp_path / "p.mp4"))
    w.open()
    for pts in (0, 512, 512, 100):
        w.write(bar_image(0), pts, TB)
    w.close()
    pts, _, _ = _decode(tmp_path / "p.mp4")
    assert pts == [0, 512, 513, 514] and w.counters["pts_fixed"] == 2


@pytest.mark.parametrize(
    ("path", "kwargs", "needle"),
    [
        ("out.weird", {}, "cannot tell the container"),
        ("out.mp4", {"format": "nosuchformat"}, "unknown output format"),
        ("out.mp4", {"codec": "nosuchcodec"}, "unknown video encoder"),
    ],
)
def test_bad_outputs_are_one_line_errors(tmp_path: Path, path: str, kwargs: dict, needle: str) -> None:
    w = VideoWriter(str(tmp_path / path), **kwargs)
    with pytest.raises(SinkError) as err:
        w.open()
    assert needle in str(err.value) and "\n" not in str(err.value)
    w.close()  # safe after a failed open


def test_path_under_a_file_and_folder_path(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(SinkError, match="cannot create folder"):
        VideoWriter(str(tmp_path / "afile" / "out.mp4")).open()
    with pytest.raises(SinkError, match="is a folder"):
        VideoWriter(str(tmp_path / "dir.mp4")).open()


def test_overwrite_false(tmp_path: Path) -> None:
    (tmp_path / "o.mp4").write_bytes(b"old")
    with pytest.raises(SinkError, match="exists"):
        VideoWriter(str(tmp_path / "o.mp4"), overwrite=False).open()


def test_codec_options_and_auto(tmp_path: Path) -> None:
    w = _write(str(tmp_path / "b.mp4"), 3, bitrate="300k", preset="ultrafast")
    assert w.codec in ("libx264", "h264_nvenc") and w.bit_rate == 300_000


def test_udp_output_sends_mpegts() -> None:
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", port))
        rx.settimeout(5)
        w = _write(f"udp://127.0.0.1:{port}?pkt_size=1316", 10)
        assert w.format == "mpegts"
        data = rx.recv(65536)
    assert len(data) % 188 == 0 and data[0] == 0x47 and data[188] == 0x47  # TS sync bytes


def _atoms(path: Path) -> list[str]:
    """Top-level MP4 box types, in file order."""
    data, names, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        names.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8:
            break
        at += size
    return names


@pytest.mark.parametrize(
    ("kwargs", "fragmented"),
    [
        ({}, False),
        ({"live": True}, True),
        ({"fragmented": True}, True),
        ({"live": True, "fragmented": False}, False),
    ],
)
def test_plain_mp4_offline_fragmented_live_or_asked(tmp_path: Path, kwargs: dict, fragmented: bool) -> None:
    out = tmp_path / "x.mp4"
    w = VideoWriter(str(out), **kwargs)
    w.open()
    for i in range(75):  # 2.5 s at 30 fps: more than one fragment
        w.write(bar_image(i), 512 * i, TB, rate=Fraction(30))
    w.close()
    atoms = _atoms(out)
    if fragmented:
        assert atoms.count("moof") >= 2 and atoms.index("moov") < atoms.index("mdat")
    else:
        assert "moof" not in atoms and atoms.index("moov") > atoms.index("mdat")  # index at the end
    pts, _, tb = _decode(out)
    assert [p * tb for p in pts] == [Fraction(i, 30) for i in range(75)]
