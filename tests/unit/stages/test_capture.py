"""The capture stage: params, default mode, Frames with index/pts/stream, frames limit, errors."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.errors import SourceError
from streamer.stages.base import RunContext
from streamer.stages.capture import Capture
from tests.unit.io.media import make_clip


def _capture(uri: object, name: str = "cam", ctx: RunContext | None = None, **params: object) -> Capture:
    return Capture(name, Capture.Params(uri=uri, **params), ctx or RunContext())


@pytest.mark.parametrize(
    ("uri", "mode"),
    [
        (0, "live"),
        ("/dev/video0", "live"),
        ("udp://127.0.0.1:5000", "live"),
        ("rtsp://h/x", "live"),
        ("clip.mp4", "offline"),
        ("testsrc", "offline"),
        ("imgs/*.png", "offline"),
    ],
)
def test_default_mode(uri: object, mode: str) -> None:
    assert Capture.default_mode(Capture.Params(uri=uri)) == mode


def test_params_forbid_unknown_and_check_ranges() -> None:
    with pytest.raises(ValidationError):
        Capture.Params(uri="testsrc", nope=1)
    with pytest.raises(ValidationError):
        Capture.Params(uri="testsrc", reconnect=-2)


def test_file_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=12)
    cap = _capture(str(clip))
    cap.open()
    frames = list(cap.frames())
    cap.close()
    assert [f.index for f in frames] == list(range(12))
    assert [f.pts for f in frames] == [512 * i for i in range(12)]
    assert all(f.time_base == Fraction(1, 15360) for f in frames)
    assert len({id(f.stream) for f in frames}) == 1  # one shared StreamInfo
    assert frames[0].stream.frame_count == 12 and frames[0].stream.audio is not None
    assert sum(len(f.audio) for f in frames) + len(cap.trailing_audio()) > 10


def test_relative_path_resolves_next_to_graph(tmp_path: Path) -> None:
    make_clip(tmp_path / "c.mp4", frames=3, audio=False)
    ctx = RunContext(graph_path=tmp_path / "g.yaml")
    cap = _capture("c.mp4", ctx=ctx)
    cap.open()
    assert len(list(cap.frames())) == 3
    cap.close()


def test_frames_limit_and_progress_count() -> None:
    cap = _capture("testsrc", frames=7, width=64, height=48)
    cap.open()
    frames = list(cap.frames())
    cap.close()
    assert len(frames) == 7 and frames[0].stream.frame_count == 7
    assert frames[0].image.shape == (48, 64, 3)


def test_stop_event_ends_frames() -> None:
    ctx = RunContext(stop=threading.Event())
    cap = _capture("testsrc", ctx=ctx)
    cap.open()
    gen = cap.frames()
    next(gen)
    ctx.stop.set()
    assert len(list(gen)) <= 1
    cap.close()


def test_missing_camera_message() -> None:
    cap = _capture(9, name="cam")
    with pytest.raises(SourceError) as err:
        cap.open()
    assert str(err.value) == (
        "camera 9 could not be opened; no camera here? run on a file with --set cam.uri=FILE"
    )
    cap.close()
    cap.close()


def test_missing_file_message(tmp_path: Path) -> None:
    cap = _capture(str(tmp_path / "missing.mp4"), name="src")
    with pytest.raises(SourceError, match="not found.*--set src.uri"):
        cap.open()
    cap.close()


def test_close_after_abandoned_generator(tmp_path: Path) -> None:
    cap = _capture(str(make_clip(tmp_path / "c.mp4", frames=10)))
    cap.open()
    gen = cap.frames()
    next(gen)
    gen.close()
    cap.close()
    cap.close()
