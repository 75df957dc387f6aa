"""The encode stage: capture -> encode round trips keep frames, pts and audio; close semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.errors import SinkError
from streamer.stages.base import RunContext
from streamer.stages.capture import Capture
from streamer.stages.encode import Encode
from tests.unit.io.media import make_clip

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _round_trip(src: Path, dst: Path, **params: object) -> list:
    ctx = RunContext()
    cap = Capture("cam", Capture.Params(uri=str(src)), ctx)
    enc = Encode("out", Encode.Params(path=str(dst), **params), ctx)
    cap.open()
    enc.open()
    frames = []
    for frame in cap.frames():
        enc.write(frame)
        frames.append(frame)
    enc.write_trailing_audio(cap.trailing_audio())
    cap.close()
    enc.close()
    return frames


def _probe(path: Path) -> dict:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        audio = c.streams.audio[0] if c.streams.audio else None
        info = {"video_tb": v.time_base, "audio": None}
        if audio is not None:
            info["audio"] = (
                audio.codec_context.name,
                audio.time_base,
                [(p.pts, p.dts) for p in c.demux(audio) if p.dts is not None],
            )
        c.seek(0)
        info["pts"] = [f.pts for f in c.decode(video=0)]
        return info


def _check_round_trip(src: Path, dst: Path, **params: object) -> None:
    frames = _round_trip(src, dst, **params)
    before, after = _probe(src), _probe(dst)
    assert len(after["pts"]) == len(frames) == len(before["pts"])
    assert after["pts"] == [f.pts for f in frames] == before["pts"]
    assert after["video_tb"] == before["video_tb"]
    assert after["audio"] == before["audio"]  # same codec, time base, packets and pts


def test_round_trip_keeps_frames_pts_and_audio(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=45)
    _check_round_trip(src, tmp_path / "out" / "copy.mp4")


def test_fragmented_round_trip_keeps_frames_pts_and_audio(tmp_path: Path) -> None:
    # B-frames (offline preset) and AAC priming: delay_moov's edit list keeps every pts exact
    src = make_clip(tmp_path / "in.mp4", frames=75)
    _check_round_trip(src, tmp_path / "frag.mp4", fragmented=True)


@pytest.mark.parametrize("name", ["face_audio.mp4", "one_face.mp4"])
def test_round_trip_sample_clips(tmp_path: Path, name: str) -> None:
    if not (SAMPLES / name).exists():
        pytest.skip(f"samples/{name} not made yet")
    _check_round_trip(SAMPLES / name, tmp_path / name, preset="ultrafast")


def test_stop_mid_stream_keeps_every_frame_written(tmp_path: Path) -> None:
    """What the runner does on SIGINT: stop reading, close the sink; the file plays."""
    src = make_clip(tmp_path / "in.mp4", frames=40)
    ctx = RunContext()
    cap = Capture("cam", Capture.Params(uri=str(src)), ctx)
    enc = Encode("out", Encode.Params(path=str(tmp_path / "cut.mp4")), ctx)
    cap.open()
    enc.open()
    written = []
    for frame in cap.frames():
        enc.write(frame)
        written.append(frame.pts)
        if len(written) == 17:
            ctx.stop.set()
    cap.close()
    enc.close()
    assert _probe(tmp_path / "cut.mp4")["pts"] == written and len(written) == 17


def test_audio_drop(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=10)
    _round_trip(src, tmp_path / "v.mp4", audio="drop")
    assert _probe(tmp_path / "v.mp4")["audio"] is None


def test_mkv_output_keeps_audio(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=20)
    frames = _round_trip(src, tmp_path / "o.mkv")
    info = _probe(tmp_path / "o.mkv")
    assert len(info["pts"]) == len(frames) and info["audio"][0] == "aac"
    # matroska keeps milliseconds, and shifts everything so the earliest timestamp (AAC
    # priming, -23 ms) is 0: same shift for audio and video, so they stay in sync
    expected = [round(f.pts * f.time_base * 1000) for f in frames]
    shift = info["pts"][0] - expected[0]
    assert shift == 23 and info["audio"][2][0][0] == 0
    assert all(abs(got - (want + shift)) <= 1 for got, want in zip(info["pts"], expected, strict=False))


def test_close_without_frames_and_twice(tmp_path: Path) -> None:
    enc = Encode("out", Encode.Params(path=str(tmp_path / "none.mp4")), RunContext())
    enc.open()
    enc.close()
    enc.close()
    assert not (tmp_path / "none.mp4").exists()
    Encode("out", Encode.Params(path=str(tmp_path / "x.mp4")), RunContext()).close()  # never opened


def test_params() -> None:
    with pytest.raises(ValidationError):
        Encode.Params(path="o.mp4", bitrate="fast")
    with pytest.raises(ValidationError):
        Encode.Params(path="o.mp4", audio="keep")
    assert Encode.Params(path="o.mp4", bitrate="4M").bitrate == "4M"


def test_bad_path_is_sink_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    enc = Encode("out", Encode.Params(path=str(tmp_path / "f" / "o.mp4")), RunContext())
    with pytest.raises(SinkError):
        enc.open()
    enc.close()
