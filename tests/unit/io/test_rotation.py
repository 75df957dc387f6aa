"""Rotation from the display matrix on real footage: the carphone clip (a man talking in a car)
tagged with a rotation by the ``ffmpeg`` command line (FFmpeg 5.1: ``-metadata:s:v rotate=R``),
and small clips PyAV writes with every mirror. Frames must reach the stages upright, the output
must be upright with no matrix, and face boxes must be those of the upright picture."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.faces.tracker import iou as box_iou
from streamer.io import SourceSpec, open_source
from tests.real_footage import clip
from tests.unit.stages.conftest import make_image

ROTATIONS = {90: 1, 180: 2, 270: 3}  # degrees counter-clockwise -> np.rot90 k


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg command line (apt install ffmpeg)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def _first(path: Path, **spec: object) -> tuple[np.ndarray, tuple[int, int]]:
    src = open_source(SourceSpec(uri=str(path), **spec))  # type: ignore[arg-type]
    src.open()
    try:
        image = next(iter(src.frames())).image
        assert src.info is not None
        return image, (src.info.width, src.info.height)
    finally:
        src.close()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """carphone with its own bitstream and a 90/180/270 rotation tag (no re-encode)."""
    folder = tmp_path_factory.mktemp("rot")
    out = {}
    for degrees in ROTATIONS:
        out[degrees] = folder / f"carphone_rot{degrees}.mp4"
        _ffmpeg(
            "-i", str(clip("carphone")), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(out[degrees])
        )
    return out


@pytest.mark.parametrize("degrees", sorted(ROTATIONS))
def test_first_frame_is_the_unrotated_one_turned(tagged: dict[int, Path], degrees: int) -> None:
    plain, plain_size = _first(clip("carphone"))
    turned, size = _first(tagged[degrees])
    assert plain_size == (192, 144)  # 176x144 at SAR 128:117 in square pixels
    assert size == (plain_size[::-1] if degrees != 180 else plain_size)
    assert turned.shape[:2] == (size[1], size[0]) and turned.flags.c_contiguous
    # same bitstream, same conversion: exactly the rotated picture
    assert np.abs(turned.astype(int) - np.rot90(plain, ROTATIONS[degrees])).max() <= 1


def test_rotation_agrees_with_ffmpeg(tagged: dict[int, Path], tmp_path: Path) -> None:
    """The direction is FFmpeg's: its own autorotate gives the same upright picture."""
    raw = tmp_path / "f.rgb"
    _ffmpeg("-i", str(tagged[90]), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw))
    theirs = np.fromfile(raw, np.uint8).reshape(176, 144, 3)  # rotated, coded pixels (no SAR)
    ours, _ = _first(tagged[90], width=144, height=176, fit="stretch")
    assert np.abs(ours.astype(int) - theirs).mean() < 1.0
    assert np.abs(np.rot90(ours, 2).astype(int) - theirs).mean() > 20  # the other way round is far


@pytest.mark.parametrize(
    ("degrees", "hflip", "vflip"),
    [(0, True, False), (0, False, True), (90, True, False), (270, True, False), (90, False, True)],
)
def test_mirrored_matrices(tmp_path: Path, degrees: int, hflip: bool, vflip: bool) -> None:
    """PyAV writes the matrix (rotate counter-clockwise, then mirror); we read it back upright."""
    import av

    picture = make_image(96, 64)
    path = tmp_path / "m.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "8"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    expected = np.rot90(picture, degrees // 90)
    if hflip:
        expected = expected[:, ::-1]
    if vflip:
        expected = expected[::-1]
    got, size = _first(path)
    assert size == (expected.shape[1], expected.shape[0])
    assert np.abs(got.astype(int) - expected).mean() < 4  # codec noise; a wrong turn is ~60


@pytest.fixture(scope="module")
def sideways(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phone-style clip: pixels stored turned clockwise, a matrix that turns them back."""
    folder = tmp_path_factory.mktemp("phone")
    stored, path = folder / "stored.mp4", folder / "phone.mp4"
    _ffmpeg(
        "-i", str(clip("carphone")), "-frames:v", "30", "-vf", "transpose=clock",
        "-c:v", "libx264", "-crf", "12", str(stored),
    )  # fmt: skip
    # FFmpeg 5.1 writes the rotate tag on stream copy only
    _ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v", "rotate=90", str(path))
    return path


def _faces_run(uri: Path, out: Path, frames: int = 30) -> list[list[list[float]]]:
    from streamer.graph import load_graph
    from streamer.runner import RunOptions, run_graph

    graph = out / "g.yaml"
    graph.write_text(
        "name: rot\nmode: offline\nstages:\n"
        f"  - {{name: cam, type: capture, uri: '{uri}'}}\n"
        "  - {name: faces, type: face_detect, backend: haar}\n"
        f"  - {{name: ev, type: events, path: '{out / 'ev.jsonl'}'}}\n"
        f"  - {{name: out, type: encode, input: faces, path: '{out / 'out.mp4'}'}}\n"
    )
    result = run_graph(load_graph(graph), RunOptions(max_frames=frames, quiet=True, handle_signals=False))
    assert result.error is None, result.error
    lines = (out / "ev.jsonl").read_text().splitlines()
    return [[face["box"] for face in json.loads(line)["faces"]] for line in lines]


def test_phone_clip_faces_and_output_are_upright(sideways: Path, tmp_path: Path) -> None:
    import av

    (tmp_path / "plain").mkdir()
    (tmp_path / "phone").mkdir()
    plain = _faces_run(clip("carphone"), tmp_path / "plain")
    phone = _faces_run(sideways, tmp_path / "phone")
    assert len(plain) == len(phone) == 30
    # the face is found upright, where the unrotated clip has it
    found = [(p, q) for p, q in zip(plain, phone, strict=True) if p and q]
    assert len(found) >= 24, f"faces in only {len(found)} of 30 frames"
    assert np.median([max(box_iou(p[0], b) for b in q) for p, q in found]) > 0.7
    # the output is upright and carries no matrix
    with av.open(str(tmp_path / "phone" / "out.mp4")) as c:
        stream = c.streams.video[0]
        first = next(c.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (192, 144)
        assert first.rotation == 0 and "DISPLAYMATRIX" not in str(list(first.side_data.keys()))
        reference, _ = _first(clip("carphone"))
        assert np.abs(first.to_ndarray(format="rgb24").astype(int) - reference).mean() < 6
