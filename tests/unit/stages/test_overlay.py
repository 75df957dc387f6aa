from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.frame import Face
from streamer.stages.base import STAGES, RunContext
from streamer.stages.overlay import (
    DETECTED,
    ENROLLED,
    FAKE,
    UNKNOWN,
    Overlay,
    face_colour,
    face_label,
)
from tests.unit.stages.conftest import make_frame

W, H = 320, 240
BOX = (100.0, 90.0, 200.0, 200.0)


def _overlay(**params: object) -> Overlay:
    stage = Overlay("draw", Overlay.Params(**params), RunContext())
    stage.open()
    return stage


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=2)


def test_registered() -> None:
    assert STAGES["overlay"] is Overlay


def test_draws_box_and_label_on_a_copy() -> None:
    frame = make_frame(0, W, H, faces=[Face(box=BOX, score=0.9, identity="alice", distance=0.2)])
    before = frame.image.copy()
    out = _overlay().process(frame)
    assert out is not frame and out.image is not frame.image
    np.testing.assert_array_equal(frame.image, before)  # input untouched
    assert out.faces == frame.faces and out.index == frame.index and out.pts == frame.pts
    changed = _changed(out.image, before)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    # the box outline: every edge changed
    assert changed[y1, x1 + 10 : x2 - 10].all() and changed[y2, x1 + 10 : x2 - 10].all()
    assert changed[y1 + 10 : y2 - 10, x1].all() and changed[y1 + 10 : y2 - 10, x2].all()
    # the outline has the enrolled colour
    assert tuple(out.image[y2, (x1 + x2) // 2]) == ENROLLED
    # the label sits above the box
    assert changed[y1 - 20 : y1 - 2, x1 : x1 + 40].mean() > 0.5
    # the inside of the box and the far corners stay as they were
    assert not changed[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].any()
    assert not changed[: y1 - 30].any() and not changed[y2 + 10 :].any()
    assert not changed[y1:, x2 + 10 :].any() and not changed[:, : x1 - 10].any()


@pytest.mark.parametrize(
    ("face", "colour", "label"),
    [
        (Face(box=BOX, score=0.91, identity="bob", distance=0.25), ENROLLED, "bob 0.91 d=0.25"),
        (Face(box=BOX, score=0.8, distance=0.9), UNKNOWN, "unknown 0.80 d=0.90"),
        (Face(box=BOX, score=0.7), DETECTED, "face 0.70"),
        (
            Face(box=BOX, score=0.9, identity="bob", distance=0.2, fake=0.75),
            FAKE,
            "bob 0.90 d=0.20 fake 0.75",
        ),
        (Face(box=BOX, score=0.9, identity="bob", fake=0.1), ENROLLED, "bob 0.90 fake 0.10"),
        # the deepfake stage abstained: the label says why, the colour is what else is known
        (
            Face(box=BOX, score=0.7, fake_reason="small: face 30 px < min_face 40 px"),
            DETECTED,
            "face 0.70 fake? small",
        ),
        (
            Face(
                box=BOX, score=0.9, identity="bob", fake_reason="pending: 1 of 3 detections at or above 0.50"
            ),
            ENROLLED,
            "bob 0.90 fake? pending",
        ),
        # a fake track held by hysteresis stays red below the threshold
        (
            Face(box=BOX, score=0.9, fake=0.45, fake_reason="held: track stays fake until its score < 0.40"),
            FAKE,
            "face 0.90 fake 0.45",
        ),
    ],
)
def test_colour_and_label_by_status(face: Face, colour: tuple, label: str) -> None:
    assert face_colour(face) == colour
    assert face_label(face) == label
    out = _overlay(labels=False).process(make_frame(0, W, H, faces=[face]))
    x1, _, x2, y2 = (int(v) for v in BOX)
    assert tuple(out.image[y2, (x1 + x2) // 2]) == colour


def test_boxes_off_draws_only_labels() -> None:
    frame = make_frame(0, W, H, faces=[Face(box=BOX, score=0.9)])
    out = _overlay(boxes=False).process(frame)
    changed = _changed(out.image, frame.image)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    assert changed[: y1 + 1].any()  # label
    assert not changed[y1 + 5 :].any()  # no outline below the label


def test_nothing_to_draw_returns_the_same_frame() -> None:
    frame = make_frame(0, W, H)
    assert _overlay().process(frame) is frame
    faced = make_frame(0, W, H, faces=[BOX])
    assert _overlay(boxes=False, labels=False).process(faced) is faced


def test_thickness_widens_the_outline() -> None:
    frame = make_frame(0, W, H, faces=[BOX])
    thin = _changed(_overlay(thickness=1, labels=False).process(frame).image, frame.image).sum()
    thick = _changed(_overlay(thickness=6, labels=False).process(frame).image, frame.image).sum()
    assert thick > 2 * thin


def test_faces_at_and_beyond_the_edges_do_not_fail() -> None:
    faces = [Face(box=(-20, -20, 30, 30), score=0.9), Face(box=(300, 220, 400, 400), score=0.9)]
    frame = make_frame(0, W, H, faces=faces)
    out = _overlay().process(frame)
    assert out.image.shape == frame.image.shape and _changed(out.image, frame.image).any()


@pytest.mark.parametrize("bad", [{"thickness": 0}, {"font_scale": 0}, {"colour": "red"}])
def test_invalid_params(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Overlay.Params(**bad)


def test_fake_colour_follows_the_deepfake_stages_threshold() -> None:
    """The threshold travels on the frame (Frame.fake_threshold, written by deepfake); 0.5 is
    only the fallback when no deepfake stage said one."""
    face = Face(box=BOX, score=0.9, fake=0.7)
    x1, _, x2, y2 = (int(v) for v in BOX)
    overlay = _overlay(labels=False)
    strict = overlay.process(make_frame(0, W, H, faces=[face]).replace(fake_threshold=0.9))
    default = overlay.process(make_frame(0, W, H, faces=[face]))
    lenient = overlay.process(make_frame(0, W, H, faces=[face]).replace(fake_threshold=0.6))
    assert tuple(strict.image[y2, (x1 + x2) // 2]) == DETECTED
    assert tuple(default.image[y2, (x1 + x2) // 2]) == FAKE
    assert tuple(lenient.image[y2, (x1 + x2) // 2]) == FAKE
    assert face_colour(face, 0.9) == DETECTED and face_colour(face, 0.7) == FAKE
