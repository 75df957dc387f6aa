"""graphs/file_stylize.yaml (the README's main command): the 720p one-face clip with its face
turned into a drawing by models/face_drawing.onnx, every frame, its pts and the audio kept.

What a user checks by eye, measured: the face is a drawing (far from the photo, much less
saturated, the same face: grey levels correlate); the rest of the picture is the source's
(only the re-encode differs); the stream timing and the AAC track are untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamer.graph import load_graph
from tests.graphs.media import run_and_decode

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "one_face.mp4"
GRAPH = ROOT / "graphs" / "file_stylize.yaml"
FRAMES = 30

pytestmark = pytest.mark.skipif(
    not (ROOT / "models" / "face_drawing.onnx").exists(), reason="needs models/face_drawing.onnx"
)


@pytest.fixture(scope="module")
def stylized(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("file_stylize") / "out.mp4"
    # the graph's own clip: samples/one_face.mp4
    res = run_and_decode(GRAPH, [f"out.path={out}"], CLIP, out, FRAMES)
    truth = json.loads(CLIP.with_suffix(".faces.json").read_text())["frames"]
    res["boxes"] = [[int(round(v)) for v in fr["faces"][0]["box"]] for fr in truth[:FRAMES]]
    return res


def test_graph_reads_the_720p_clip_with_audio() -> None:
    spec = load_graph(GRAPH)
    cam = next(s for s in spec.stages if s.type == "capture")
    assert Path(cam.params.uri).resolve() == CLIP
    with av.open(str(CLIP)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (1280, 720)
        assert len(c.streams.audio) == 1


def test_every_processed_frame_pts_and_audio_kept(stylized: dict) -> None:
    assert stylized["result"].stage("style").frames_in == FRAMES
    assert len(stylized["dst"]) == FRAMES
    assert stylized["dst_t"] == stylized["src_t"]  # mp4 keeps the timestamps exactly
    assert stylized["acodec"] == ("aac", "aac")
    # the audio of the frames written (1 s of 30 = 47 AAC packets of 1024 samples at 48 kHz)
    assert 0.9 * 47 <= stylized["apkts"][1] <= stylized["apkts"][0]


def _sat(rgb: np.ndarray) -> float:
    return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean())


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64).ravel()


def test_the_face_is_a_drawing_of_the_same_face(stylized: dict) -> None:
    for src, dst, (x1, y1, x2, y2) in zip(stylized["src"], stylized["dst"], stylized["boxes"], strict=True):
        a, b = src[y1:y2, x1:x2], dst[y1:y2, x1:x2]
        assert np.abs(a.astype(np.float64) - b).mean() > 20  # measured 35-44 levels
        assert _sat(b) < 0.6 * _sat(a)  # pencil-like: measured 25-34 vs 78-98
        assert np.corrcoef(_grey(a), _grey(b))[0, 1] > 0.7  # the same face: measured 0.81-0.84


def test_the_rest_of_the_picture_is_the_source(stylized: dict) -> None:
    for src, dst, (_x1, _y1, _x2, y2) in zip(
        stylized["src"], stylized["dst"], stylized["boxes"], strict=True
    ):
        below = y2 + (y2 - _y1)  # well under the face crop (margin 0.25 of the box on each side)
        assert below < 700
        diff = np.abs(src[below:].astype(np.float64) - dst[below:]).mean()
        assert diff < 4  # the re-encode only: measured ~2 levels
