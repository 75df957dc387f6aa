"""face_detect stage on the sample clips: detection against the true boxes, stable track ids,
``every: k`` tracking, ``detect_width``, and one-line errors."""

from __future__ import annotations

import functools
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.errors import StreamerError
from streamer.faces.tracker import iou
from streamer.frame import Frame, StreamInfo
from streamer.stages.base import RunContext, load_all
from tests.unit.faces.test_detect import clip_frames, models, truth

TB = Fraction(1, 15360)


def stage(**params: Any) -> Any:
    cls = load_all()["face_detect"]
    return cls("faces", cls.Params(**params), RunContext(log=lambda _m: None))


@functools.cache
def run(stem: str, **params: Any) -> tuple[Frame, ...]:
    """Every frame of a clip through an opened face_detect stage (once per configuration)."""
    models()
    images = clip_frames(stem)
    h, w = images[0].shape[:2]
    info = StreamInfo(uri=stem, width=w, height=h, time_base=TB, rate=Fraction(30))
    st = stage(**params)
    st.open()
    try:
        return tuple(
            st.process(Frame(image=img, index=i, pts=512 * i, time_base=TB, stream=info))
            for i, img in enumerate(images)
        )
    finally:
        st.close()


def hit_rate(stem: str, frames: tuple[Frame, ...], person: str | None = None) -> float:
    hits = total = 0
    for fr, true in zip(frames, truth(stem), strict=True):
        for t in true:
            if person in (None, t["person"]):
                total += 1
                hits += any(iou(t["box"], f.box) >= 0.5 for f in fr.faces)
    return hits / total


def id_changes(stem: str, frames: tuple[Frame, ...]) -> dict[str, int]:
    """Per person: how often the track id on that person's face changes over the clip."""
    last: dict[str, int | None] = {}
    changes: Counter[str] = Counter()
    for fr, true in zip(frames, truth(stem), strict=True):
        for t in true:
            best = max(fr.faces, key=lambda f: iou(t["box"], f.box), default=None)
            if best is None or iou(t["box"], best.box) < 0.5:
                continue
            if t["person"] in last and last[t["person"]] != best.track_id:
                changes[t["person"]] += 1
            last[t["person"]] = best.track_id
    return {p: changes[p] for p in last}


def test_one_face_every_frame() -> None:
    frames = run("one_face")
    assert hit_rate("one_face", frames) >= 0.95
    faces = [f for fr in frames for f in fr.faces]
    assert all(f.track_id is not None and f.keypoints is not None and len(f.keypoints) == 6 for f in faces)
    assert id_changes("one_face", frames) == {"astronaut": 0}


def test_two_people_found_with_stable_track_ids() -> None:
    frames = run("two_people")
    for person in ("astronaut", "grace_hopper"):
        assert hit_rate("two_people", frames, person) >= 0.90, person
    changes = id_changes("two_people", frames)
    assert set(changes) == {"astronaut", "grace_hopper"}
    assert all(n <= 1 for n in changes.values()), changes
    ids = {p: {f.track_id for fr in frames for f in fr.faces} for p in changes}
    assert len(ids["astronaut"]) >= 2, "two people, two different ids"


def test_no_face_clip() -> None:
    frames = run("no_face")
    assert sum(bool(fr.faces) for fr in frames) <= 0.05 * len(frames)


def test_every_3_tracks_between_detections() -> None:
    frames = run("one_face", every=3)
    assert hit_rate("one_face", frames) >= 0.90
    assert all(len(fr.faces) == 1 for fr in frames[:12])
    assert id_changes("one_face", frames) == {"astronaut": 0}
    # in-between frames carry moved boxes (once a velocity is known), not copies of the last one
    assert frames[1].faces[0].box == frames[0].faces[0].box
    assert frames[4].faces[0].box != frames[3].faces[0].box != frames[5].faces[0].box
    two = run("two_people", every=3)
    for person in ("astronaut", "grace_hopper"):
        assert hit_rate("two_people", two, person) >= 0.90, person
    assert all(n <= 1 for n in id_changes("two_people", two).values())


def test_detect_width_keeps_boxes_in_source_pixels() -> None:
    frames = run("one_face", detect_width=640)
    assert hit_rate("one_face", frames) >= 0.95
    assert all(fr.image.shape == (720, 1280, 3) for fr in frames[:3])


def test_haar_backend_stage() -> None:
    st = stage(backend="haar", detect_width=640)
    st.open()
    try:
        img = clip_frames("one_face")[0]
        info = StreamInfo(uri="x", width=1280, height=720, time_base=TB, rate=None)
        out = st.process(Frame(image=img, index=0, pts=0, time_base=TB, stream=info))
    finally:
        st.close()
    assert any(iou(truth("one_face")[0][0]["box"], f.box) >= 0.5 for f in out.faces)
    assert all(f.keypoints is None and f.track_id is not None for f in out.faces)


def test_input_frame_is_not_modified() -> None:
    models()
    img = clip_frames("two_people")[0]
    before = img.copy()
    st = stage(max_faces=1)
    st.open()
    try:
        info = StreamInfo(uri="x", width=960, height=540, time_base=TB, rate=None)
        fr = Frame(image=img, index=0, pts=0, time_base=TB, stream=info)
        out = st.process(fr)
    finally:
        st.close()
    assert np.array_equal(img, before) and fr.faces == ()
    assert len(out.faces) == 1 and out.image is img


def test_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    st = stage(model=str(tmp_path / "missing.tflite"))
    with pytest.raises(StreamerError) as e:
        st.open()
    st.close()
    assert "missing.tflite" in str(e.value) and "\n" not in str(e.value)


def test_params_are_validated() -> None:
    cls = load_all()["face_detect"]
    for bad in ({"every": 0}, {"min_score": 1.5}, {"range": "mid"}, {"backend": "dlib"}, {"bogus": 1}):
        with pytest.raises(ValidationError):
            cls.Params(**bad)
    p = cls.Params()
    assert (p.backend, p.range, p.min_score, p.every, p.model, p.detect_width) == (
        "mediapipe",
        "short",
        0.65,
        1,
        None,
        None,
    )
