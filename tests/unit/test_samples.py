"""The committed sample clips in samples/: streams, timing, size, faces JSON, A/V sync, reproducibility."""

from __future__ import annotations

import importlib.util
import json
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import av
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

# name: (width, height, frames, has audio, people expected in every frame)
CLIPS = {
    "one_face.mp4": (1280, 720, 120, True, ["astronaut"]),
    "two_people.mp4": (960, 540, 120, False, ["astronaut", "grace_hopper"]),
    "face_audio.mp4": (640, 360, 150, True, ["grace_hopper"]),
    "no_face.mp4": (640, 360, 90, False, []),
}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = mod  # dataclasses look the module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def _decode(path: Path) -> tuple[list[int], list[np.ndarray], av.video.stream.VideoStream]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts, planes = [], []
        for f in c.decode(v):
            pts.append(f.pts)
            planes.append(f.to_ndarray())  # native yuv420p, no colour conversion
        return pts, planes, v


@pytest.fixture(scope="module")
def decoded() -> dict[str, tuple[list[int], list[np.ndarray]]]:
    return {name: _decode(SAMPLES / name)[:2] for name in CLIPS}


@pytest.mark.parametrize("name", list(CLIPS))
def test_clip_streams_and_timing(name: str) -> None:
    w, h, n, has_audio, _ = CLIPS[name]
    path = SAMPLES / name
    assert path.stat().st_size < 2_000_000, f"{name} is {path.stat().st_size} bytes, expected < 2 MB"
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        assert (v.width, v.height) == (w, h)
        assert v.average_rate == 30
        assert v.format.name == "yuv420p"
        audio = list(c.streams.audio)
        if has_audio:
            assert len(audio) == 1 and audio[0].codec_context.name == "aac"
            assert audio[0].rate == 48_000
        else:
            assert audio == []
        pts = [f.pts for f in c.decode(v)]
    assert len(pts) == n
    assert pts[0] == 0
    step = Fraction(1, 30) / v.time_base
    assert step.denominator == 1, f"time base {v.time_base} cannot express 30 fps exactly"
    assert np.all(np.diff(pts) == int(step)), (
        f"pts steps {sorted(set(np.diff(pts).tolist()))}, expected {step}"
    )


@pytest.mark.parametrize("name", list(CLIPS))
def test_faces_json_matches_clip(name: str, decoded: dict) -> None:
    w, h, n, _, people = CLIPS[name]
    doc = json.loads((SAMPLES / name).with_suffix(".faces.json").read_text())
    with av.open(str(SAMPLES / name)) as c:
        tb = c.streams.video[0].time_base
    assert (doc["clip"], doc["width"], doc["height"], doc["fps"]) == (name, w, h, 30)
    assert Fraction(doc["time_base"]) == tb
    pts, _ = decoded[name]
    assert [f["frame"] for f in doc["frames"]] == list(range(n))
    assert [f["pts"] for f in doc["frames"]] == pts
    for fr in doc["frames"]:
        assert sorted(f["person"] for f in fr["faces"]) == sorted(people), f"frame {fr['frame']}"
        for face in fr["faces"]:
            x1, y1, x2, y2 = face["box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, f"frame {fr['frame']}: box {face['box']} outside"
            (lx, ly), (rx, ry) = face["eyes"]
            assert lx < rx, "eyes must be listed image-left first"
            for ex, ey in face["eyes"]:
                assert x1 <= ex <= x2 and y1 <= ey <= y2, f"frame {fr['frame']}: eye outside its box"
            if name == "one_face.mp4":  # the 720p benchmark clip needs a large face
                assert 150 <= y2 - y1 <= 300, f"frame {fr['frame']}: face {y2 - y1:.0f} px tall"


def test_faces_json_boxes_follow_the_face() -> None:
    """An independent detector (OpenCV LBP cascade) agrees with the truth boxes on sampled frames."""
    ms = _load_script()
    for name in ("one_face.mp4", "two_people.mp4", "face_audio.mp4"):
        matched, total, _ = ms.check_truth(SAMPLES / name, every=15)
        assert total > 0 and matched / total >= 0.8, (
            f"{name}: {matched}/{total} truth boxes found by the cascade"
        )


def test_face_audio_clicks_line_up_with_white_squares(decoded: dict) -> None:
    """A loud click starts at every whole second and the corner square is lit exactly on those frames."""
    with av.open(str(SAMPLES / "face_audio.mp4")) as c:
        a = c.streams.audio[0]
        frames = list(c.decode(a))
    assert frames[0].pts == 0
    x = np.concatenate([f.to_ndarray()[0] for f in frames])
    assert len(x) >= 5 * 48_000
    loud = np.flatnonzero(np.abs(x) > 0.3)
    onsets = [int(loud[loud >= s * 48_000 - 2400][0]) for s in range(5)]
    for s, on in enumerate(onsets):
        assert abs(on - s * 48_000) <= 48, f"click {s} starts at sample {on}, expected {s * 48_000} (+-1 ms)"
    assert np.abs(x[2400:45_600]).max() < 0.1, "the tone between clicks should be quiet"

    _, planes = decoded["face_audio.mp4"]
    luma_corner = np.array([p[10:30, 10:30].mean() for p in planes])  # Y plane, top-left square
    lit = np.flatnonzero(luma_corner > 180).tolist()
    assert lit == [0, 30, 60, 90, 120]


def test_no_face_clip_has_no_faces() -> None:
    doc = json.loads((SAMPLES / "no_face.faces.json").read_text())
    assert all(fr["faces"] == [] for fr in doc["frames"])


@pytest.mark.slow
def test_script_reproduces_the_committed_clips(tmp_path: Path, decoded: dict) -> None:
    ms = _load_script()
    ms.main(["--out", str(tmp_path)])
    for name in CLIPS:
        pts, planes, _ = _decode(tmp_path / name)
        ref_pts, ref_planes = decoded[name]
        assert pts == ref_pts, name
        assert len(planes) == len(ref_planes), name
        for i, (a, b) in enumerate(zip(planes, ref_planes, strict=True)):
            if not np.array_equal(a, b):
                diff = np.abs(a.astype(int) - b.astype(int)).max()
                pytest.fail(f"{name} frame {i} decodes differently after regeneration (max diff {diff})")
        new = json.loads((tmp_path / name).with_suffix(".faces.json").read_text())
        old = json.loads((SAMPLES / name).with_suffix(".faces.json").read_text())
        assert new == old, f"{name}: faces JSON differs after regeneration"
