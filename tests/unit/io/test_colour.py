"""Colour: YUV -> RGB follows the stream's matrix and range like FFmpeg's own conversion, an
untagged HD stream is taken as BT.709, and the encoder converts back with the matrix it tags.

Clips are colour bars made by the ``ffmpeg`` command line (BT.709 HD, untagged HD, BT.601 SD,
full-range SD) plus real footage (bigbuckbunny 720p, carphone QCIF, both untagged). The
reference is ``ffmpeg -i clip -pix_fmt rgb24`` (FFmpeg 5.1), which reads the tags itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamer.io import SourceSpec, VideoWriter, open_source
from tests.real_footage import clip

# name -> (lavfi source, size, extra ffmpeg output options)
CLIPS = {
    "bt709": (
        "smptehdbars",
        (1280, 720),
        ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
    ),
    "untagged_hd": ("smptehdbars", (1280, 720), []),
    "bt601": ("smptebars", (640, 480), ["-colorspace", "smpte170m", "-color_primaries", "smpte170m"]),
    "full": ("smptebars", (640, 480), ["-pix_fmt", "yuvj420p", "-color_range", "pc"]),
}
BT709 = "scale=in_color_matrix=bt709"  # what FFmpeg needs to be told for an untagged HD file


def _need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("needs the ffmpeg command line (apt install ffmpeg)")


def _ffmpeg_rgb(path: Path, size: tuple[int, int], vf: str | None = None) -> np.ndarray:
    """First frame as FFmpeg converts it to RGB."""
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1"] + (["-vf", vf] if vf else [])
    out = subprocess.run([*args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(out.stdout, np.uint8).reshape(size[1], size[0], 3).astype(int)


def _ours(path: Path) -> np.ndarray:
    src = open_source(SourceSpec(uri=str(path)))
    src.open()
    try:
        return next(iter(src.frames())).image
    finally:
        src.close()


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _need_ffmpeg()
    folder = tmp_path_factory.mktemp("bars")
    out = {}
    for name, (source, (w, h), extra) in CLIPS.items():
        out[name] = folder / f"{name}.mp4"
        lavfi = f"{source}=size={w}x{h}:rate=30"
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-frames:v", "2", "-c:v", "libx264"]
        subprocess.run([*cmd, "-crf", "4", *extra, str(out[name])], check=True, timeout=60)
    return out


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_decode_matches_ffmpeg(bars: dict[str, Path], name: str) -> None:
    size = CLIPS[name][1]
    theirs = _ffmpeg_rgb(bars[name], size, BT709 if name == "untagged_hd" else None)
    diff = np.abs(_ours(bars[name]).astype(int) - theirs)
    assert diff.mean() <= 0.5 and diff.max() <= 2  # measured: identical (swscale both sides)


def test_untagged_hd_is_taken_as_bt709_not_bt601(bars: dict[str, Path]) -> None:
    as601 = _ffmpeg_rgb(bars["untagged_hd"], (1280, 720), "scale=in_color_matrix=bt601")
    assert np.abs(_ours(bars["untagged_hd"]).astype(int) - as601).mean() > 2  # bars differ ~3.6


@pytest.mark.parametrize(("name", "size"), [("bigbuckbunny", (1280, 720)), ("carphone", None)])
def test_real_untagged_footage_gets_the_size_guess(name: str, size: tuple[int, int] | None) -> None:
    _need_ffmpeg()
    path = clip(name)
    if size is None:  # carphone: SD, BT.601 (FFmpeg's default); compare before SAR scaling
        ours = _ours_sized(path, 176, 144)
        theirs = _ffmpeg_rgb(path, (176, 144))
    else:
        ours, theirs = _ours(path), _ffmpeg_rgb(path, size, BT709)
    diff = np.abs(ours.astype(int) - theirs)
    assert diff.mean() <= 0.5 and diff.max() <= 2


def _ours_sized(path: Path, width: int, height: int) -> np.ndarray:
    src = open_source(SourceSpec(uri=str(path), width=width, height=height, fit="stretch"))
    src.open()
    try:
        return next(iter(src.frames())).image
    finally:
        src.close()


def _probe(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-of", "json", "-show_entries",
         "stream=color_space,color_primaries,color_transfer,color_range", str(path)],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out)["streams"][0])


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("bt709", ("bt709", "bt709", "bt709")),
        ("untagged_hd", ("bt709", "bt709", "bt709")),
        ("bt601", ("smpte170m", "smpte170m", "smpte170m")),
        ("full", ("smpte170m", "smpte170m", "smpte170m")),
    ],
)
def test_encode_round_trip_and_tags(
    bars: dict[str, Path], tmp_path: Path, name: str, tags: tuple[str, ...]
) -> None:
    """Decode -> encode (lossless x264, so only colour and 4:2:0 are measured) -> FFmpeg decode:
    mean <= 1 level, max <= 3 (measured: mean 0.45-0.58, max 2; 3 for full -> limited range)."""
    src = open_source(SourceSpec(uri=str(bars[name])))
    src.open()
    raw = next(iter(src.frames()))
    src.close()
    out = tmp_path / "rt.mp4"
    writer = VideoWriter(str(out), codec="libx264", crf=0, audio=False)
    writer.open()
    writer.write(raw.image, raw.pts, raw.time_base)
    writer.close()
    probe = _probe(out)
    assert (probe["color_space"], probe["color_primaries"], probe["color_transfer"]) == tags
    assert probe["color_range"] == "tv"
    back = _ffmpeg_rgb(out, CLIPS[name][1])  # FFmpeg reads our tags
    diff = np.abs(back - raw.image)
    assert diff.mean() <= 1.0 and diff.max() <= 3
