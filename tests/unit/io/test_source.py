"""Sources: files (pts, audio, loop), testsrc, image folders/globs, and one-line errors."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.errors import SourceError
from streamer.io import SourceSpec, open_source
from tests.unit.io.media import bar_image, make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "bars.mp4", frames=30)


def _read(spec: SourceSpec, limit: int = 1000) -> tuple[list, object, object]:
    counters: dict[str, int] = {}
    src = open_source(spec, counters=counters)
    src.open()
    out = []
    for raw in src.frames():
        out.append(raw)
        if len(out) >= limit:
            break
    trailing = src.trailing_audio()
    src.close()
    src.close()  # twice is fine
    return out, src.info, trailing


def _demux_audio(path: Path) -> list[tuple[int, int]]:
    import av

    with av.open(str(path)) as c:
        return [(p.pts, p.dts) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


def test_file_frames_keep_demuxer_pts_and_pictures(clip: Path) -> None:
    frames, info, _ = _read(SourceSpec(uri=str(clip)))
    assert len(frames) == 30
    assert info.frame_count == 30 and info.rate == 30 and not info.live
    assert info.time_base == Fraction(1, 15360)
    assert [f.pts for f in frames] == [512 * i for i in range(30)]
    for i in (0, 7, 29):
        img = frames[i].image
        assert img.dtype == np.uint8 and img.shape == (120, 160, 3) and img.flags.c_contiguous
        # lossy codec: close to the bar picture that was encoded
        assert np.abs(img.astype(int) - bar_image(i)).mean() < 6


def test_file_audio_packets_all_arrive_in_order(clip: Path) -> None:
    frames, info, trailing = _read(SourceSpec(uri=str(clip)))
    assert info.audio is not None and info.audio.codec == "aac"
    got = [(p.pts, p.dts) for f in frames for p in f.audio] + [(p.pts, p.dts) for p in trailing]
    assert got == _demux_audio(clip)


def test_audio_off(clip: Path) -> None:
    frames, info, trailing = _read(SourceSpec(uri=str(clip), audio=False))
    assert info.audio is None and not trailing and all(not f.audio for f in frames)


def test_loop_keeps_pts_increasing(clip: Path) -> None:
    frames, info, _ = _read(SourceSpec(uri=str(clip), loop=True), limit=75)
    pts = [f.pts for f in frames]
    assert len(pts) == 75 and info.frame_count is None
    # pass two starts exactly one frame after pass one ended
    assert pts == [512 * i for i in range(75)]
    audio = [p.dts for f in frames for p in f.audio]
    assert audio == sorted(set(audio)) and audio[-1] > 44100 * 2  # audio follows the passes
    assert np.abs(frames[30].image.astype(int) - bar_image(0)).mean() < 6


def test_scaled_output_keeps_aspect(clip: Path) -> None:
    frames, info, _ = _read(SourceSpec(uri=str(clip), width=80), limit=2)
    assert (info.width, info.height) == (80, 60)
    assert frames[0].image.shape == (60, 80, 3)


def test_testsrc_moves_and_counts() -> None:
    frames, info, _ = _read(SourceSpec(uri="testsrc", width=320, height=240, fps=25), limit=10)
    assert (info.width, info.height, info.rate, info.time_base) == (320, 240, 25, Fraction(1, 25))
    assert [f.pts for f in frames] == list(range(10))
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    # consecutive frames differ (moving box and counter); same index is the same picture
    assert all(not np.array_equal(a.image, b.image) for a, b in zip(frames, frames[1:], strict=False))
    again, _, _ = _read(SourceSpec(uri="testsrc", width=320, height=240, fps=25), limit=3)
    assert np.array_equal(again[2].image, frames[2].image)


def test_testsrc_fractional_rate() -> None:
    frames, info, _ = _read(SourceSpec(uri="testsrc", fps=29.97), limit=3)
    assert info.rate == Fraction(2997, 100) and info.time_base == Fraction(1, 2997)
    assert [f.pts for f in frames] == [0, 100, 200]


def _write_images(folder: Path, n: int) -> None:
    import cv2

    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"img{i:03d}.png"), bar_image(i)[..., ::-1])
    (folder / "notes.txt").write_text("not an image")


def test_image_folder_and_glob(tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs", 5)
    frames, info, _ = _read(SourceSpec(uri=str(tmp_path / "imgs"), fps=10))
    assert info.frame_count == 5 and info.time_base == Fraction(1, 10)
    assert [f.pts for f in frames] == [0, 1, 2, 3, 4]
    assert all(np.array_equal(f.image, bar_image(i)) for i, f in enumerate(frames))  # RGB order
    frames, _, _ = _read(SourceSpec(uri=str(tmp_path / "imgs" / "img00[13].png")))
    assert len(frames) == 2 and np.array_equal(frames[1].image, bar_image(3))
    frames, _, _ = _read(SourceSpec(uri=str(tmp_path / "imgs"), loop=True), limit=12)
    assert [f.pts for f in frames] == list(range(12))


def _one_line_error(spec: SourceSpec) -> str:
    src = open_source(spec)
    with pytest.raises(SourceError) as err:
        src.open()
    src.close()  # safe after a failed open
    text = str(err.value)
    assert "\n" not in text
    return text


def test_missing_file_error(tmp_path: Path) -> None:
    text = _one_line_error(SourceSpec(uri=str(tmp_path / "nope.mp4"), name="cam"))
    assert "not found" in text and "nope.mp4" in text and "--set cam.uri" in text


def test_not_a_video_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    assert "bad.mp4" in _one_line_error(SourceSpec(uri=str(bad)))


def test_empty_glob_error(tmp_path: Path) -> None:
    assert "no images" in _one_line_error(SourceSpec(uri=str(tmp_path / "*.png")))


def test_unreachable_stream_error() -> None:
    # nothing listens on port 1: refused at once
    text = _one_line_error(SourceSpec(uri="rtsp://127.0.0.1:1/live", timeout=2))
    assert "rtsp://127.0.0.1:1/live" in text


def test_missing_camera_error() -> None:
    text = _one_line_error(SourceSpec(uri="/dev/video97", name="cam"))
    assert text == (
        "camera /dev/video97 could not be opened; no camera here? run on a file with --set cam.uri=FILE"
    )


def test_stop_ends_the_generator() -> None:
    stop = threading.Event()
    src = open_source(SourceSpec(uri="testsrc"), stop=stop)
    src.open()
    gen = src.frames()
    next(gen)
    stop.set()
    assert list(gen) == []
    src.close()
