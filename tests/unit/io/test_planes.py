"""Decoded planes all the way to the encoder: a transcode never converts to RGB, a stage that
reads pixels gets them converted once per frame (bit-identical to the eager conversion), and
geometry or colour the planes cannot carry as they are still goes through RGB."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from streamer.graph import load_graph
from streamer.io import SourceSpec, VideoWriter, open_source
from streamer.io.picture import DecodedPicture, PictureConverter
from streamer.runner import RunOptions, run_graph
from tests.real_footage import clip

ROOT = Path(__file__).resolve().parents[3]
TRANSCODE = ROOT / "graphs" / "file_transcode.yaml"


def _ffmpeg(*args: str | Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg command line (apt install ffmpeg)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


class Counts:
    """Counts RGB conversions of decoded frames and RGB-path encodes, by monkeypatching."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, forbid: bool = False) -> None:
        self.converted = 0
        self.encoded_rgb = 0
        self._lock = threading.Lock()
        convert, converted = PictureConverter.convert, VideoWriter._converted

        def counting_convert(conv: PictureConverter, frame: Any) -> np.ndarray:
            if forbid:
                raise AssertionError("a decoded frame was converted to RGB")
            with self._lock:
                self.converted += 1
            return convert(conv, frame)

        def counting_converted(writer: VideoWriter, pixels: Any) -> Any:
            with self._lock:
                self.encoded_rgb += 1
            return converted(writer, pixels)

        monkeypatch.setattr(PictureConverter, "convert", counting_convert)
        monkeypatch.setattr(VideoWriter, "_converted", counting_converted)


def _run(overrides: list[str], graph: Path = TRANSCODE) -> Any:
    result = run_graph(load_graph(graph, overrides), RunOptions(quiet=True, handle_signals=False))
    assert result.error is None, result.error
    return result


def _decode(path: Path) -> tuple[Any, list[Any]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        return stream, frames


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-9))


@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes"])
def test_transcode_graph_never_converts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    counts = Counts(monkeypatch, forbid=True)
    out = tmp_path / "out.mp4"
    result = _run([f"cam.uri={clip(name)}", f"out.path={out}", "out.crf=18"], TRANSCODE)
    n = result.stage("out").frames_in
    assert n > 100 and counts.encoded_rgb == 0
    # the planes written as they are: the same pictures up to the re-encode
    _, src = _decode(clip(name))
    _, dst = _decode(out)
    assert len(dst) == len(src) == n
    assert min(_psnr(a.to_ndarray(), b.to_ndarray()) for a, b in zip(src, dst, strict=True)) > 38


def test_readers_convert_once_and_encode_still_passes_planes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stages read RGB from every frame (fan-out) while encode writes the planes."""
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "name: fan\nmode: offline\nstages:\n"
        "  - {name: cam, type: capture, uri: x}\n"
        "  - {name: out, type: encode, input: cam, path: x.mp4}\n"
        "  - {name: a, type: frames, input: cam, dir: a}\n"
        "  - {name: b, type: frames, input: cam, dir: b}\n"
    )
    counts = Counts(monkeypatch)
    result = _run(
        [
            f"cam.uri={clip('bikes')}",
            f"out.path={tmp_path / 'o.mp4'}",
            f"a.dir={tmp_path / 'a'}",
            f"b.dir={tmp_path / 'b'}",
            "cam.frames=20",
        ],
        graph,
    )
    assert result.stage("out").frames_in == 20
    assert counts.converted == 20 and counts.encoded_rgb == 0


def test_lazy_rgb_is_the_eager_conversion() -> None:
    """What stages see is bit-identical to converting at decode time (the regression
    references were made that way)."""
    path = clip("bigbuckbunny")
    src = open_source(SourceSpec(uri=str(path)))
    src.open()
    try:
        raws = [r for _, r in zip(range(5), src.frames(), strict=False)]
    finally:
        src.close()
    for raw in raws:
        assert isinstance(raw.pixels, DecodedPicture) and not raw.pixels.converted
        eager = raw.pixels.converter.convert(raw.pixels.frame)
        assert np.array_equal(raw.image, eager) and raw.pixels.converted
        assert raw.image is raw.pixels.rgb()


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes (640x272) with a 90 degree display matrix, bitstream untouched."""
    out = tmp_path_factory.mktemp("planes") / "rot90.mp4"
    _ffmpeg("-i", clip("bikes"), "-c", "copy", "-metadata:s:v", "rotate=90", out)
    return out


def test_rotated_source_is_converted_and_written_upright(
    rotated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = Counts(monkeypatch)
    out = tmp_path / "out.mp4"
    result = _run([f"cam.uri={rotated}", f"out.path={out}", "cam.frames=10"])
    assert result.stage("out").frames_in == 10
    assert counts.converted == 10 and counts.encoded_rgb == 10  # never the sideways planes
    stream, frames = _decode(out)
    assert (frames[0].width, frames[0].height) == (272, 640)


def test_fitted_source_is_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)
    out = tmp_path / "out.mp4"
    result = _run([f"cam.uri={clip('bigbuckbunny')}", f"out.path={out}", "cam.width=640", "cam.frames=8"])
    assert result.stage("out").frames_in == 8
    assert counts.converted == 8 and counts.encoded_rgb == 8
    _, frames = _decode(out)
    assert (frames[0].width, frames[0].height) == (640, 360)


@pytest.fixture(scope="module")
def sd_bt709(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SD clip tagged BT.709 (the RGB path alone would write BT.601 at this size), every
    frame an I-frame."""
    out = tmp_path_factory.mktemp("planes") / "sd709.mp4"
    _ffmpeg(
        "-i", clip("bikes"), "-frames:v", "12", "-an", "-c:v", "libx264", "-g", "1",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv", out,
    )  # fmt: skip
    return out


def _tags(stream: Any) -> tuple[Any, ...]:
    ctx = stream.codec_context
    return (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range)


def test_passed_through_transcode_keeps_the_source_colour_tags(
    sd_bt709: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Counts(monkeypatch, forbid=True)
    out = tmp_path / "out.mp4"
    _run([f"cam.uri={sd_bt709}", f"out.path={out}"])
    src, src_frames = _decode(sd_bt709)
    dst, dst_frames = _decode(out)
    assert _tags(dst) == _tags(src) == (1, 1, 1, 1)
    # the source's picture types are not copied: x264 chooses its own (not all I-frames)
    assert all(f.key_frame for f in src_frames) and not all(f.key_frame for f in dst_frames)


def test_rgb_frames_in_a_passed_through_stream_use_its_matrix(sd_bt709: Path, tmp_path: Path) -> None:
    """Frames a stage changed, between frames written as planes, are converted with the
    stream's (the source's) matrix, not the size guess: one file never mixes two."""
    src = open_source(SourceSpec(uri=str(sd_bt709)))
    src.open()
    writer = VideoWriter(str(tmp_path / "mixed.mp4"), crf=10)
    writer.open()
    try:
        raws = list(src.frames())
        for i, raw in enumerate(raws):
            pixels = raw.pixels if i % 2 == 0 else raw.image.copy()  # odd frames "changed"
            writer.write(pixels, raw.pts, raw.time_base, rate=src.info.rate if src.info else None)
        writer.close()
    finally:
        src.close()
    assert writer.frames_passed == (len(raws) + 1) // 2
    dst, frames = _decode(tmp_path / "mixed.mp4")
    assert _tags(dst)[0] == 1  # BT.709, as the source
    from streamer.io.picture import to_rgb

    for raw, out in zip(raws, frames, strict=True):
        assert _psnr(raw.image, to_rgb(out)) > 38


def test_anamorphic_source_is_widened_not_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """carphone is 176x144 with SAR 128:117: its planes are not the picture's shape."""
    counts = Counts(monkeypatch)
    out = tmp_path / "out.mp4"
    _run([f"cam.uri={clip('carphone')}", f"out.path={out}", "cam.frames=5"])
    assert counts.converted == 5 and counts.encoded_rgb == 5
    _, frames = _decode(out)
    assert (frames[0].width, frames[0].height) == (192, 144)
