"""One-Euro smoothing per track: a still real face stops turning, a moving one is followed."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from streamer.faces.smooth import OneEuro
from streamer.faces.tracker import IouTracker


def test_one_euro_keeps_a_constant_and_follows_a_step() -> None:
    f = OneEuro(lead=4)
    x = np.array([10.0, 20.0, 110.0, 120.0, 50.0, 60.0])
    for _ in range(5):
        np.testing.assert_allclose(f(x, dt=1 / 30, scale=100.0), x)
    y = x + 30.0
    out = [f(y, dt=1 / 30, scale=100.0) for _ in range(30)]
    assert 0 < out[0][0] - x[0] < 30.0  # smoothed, not jumped
    assert abs(out[-1][0] - y[0]) < 0.5  # and arrived within a second
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuro(min_cutoff=0.0)


def _astronaut_frames(shift_per_frame: float, n: int = 40) -> list[np.ndarray]:
    """The real photo on a grey canvas, moved ``shift_per_frame`` px right each frame, with sensor
    noise and JPEG compression of its own on every frame (so the detector jitters as on video)."""
    canvas = np.full((640, 640, 3), 90, np.uint8)
    canvas[64:576, 0:512] = data.astronaut()
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        m = np.float32([[1, 0, shift_per_frame * i], [0, 1, 0]])
        f = cv2.warpAffine(canvas, m, (640, 640), borderValue=(90, 90, 90))
        f = np.clip(f.astype(np.int16) + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8)
        _, jpg = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 75])
        out.append(np.ascontiguousarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR)[..., ::-1]))
    return out


def _eye_angle(kps: tuple[tuple[float, float], ...]) -> float:
    (rx, ry), (lx, ly) = kps[:2]
    return math.degrees(math.atan2(ly - ry, lx - rx))


@pytest.fixture(scope="module")
def detector():  # noqa: ANN201
    from streamer.faces.detect import FaceDetector

    det = FaceDetector(range="full")
    yield det
    det.close()


def test_a_still_face_turns_less_than_a_degree_between_frames(detector) -> None:  # noqa: ANN001
    raw = [detector.detect(f)[0] for f in _astronaut_frames(0.0)]
    tracker = IouTracker(smooth=True)
    smooth = [tracker.update([r], time=i / 30)[0] for i, r in enumerate(raw)]
    assert len({f.track_id for f in smooth}) == 1
    raw_steps = np.abs(np.diff([_eye_angle(r.keypoints) for r in raw]))
    steps = np.abs(np.diff([_eye_angle(s.keypoints) for s in smooth]))
    assert raw_steps.max() > 1.0  # the detector alone does not hold still
    assert steps.max() < 1.0 and steps.mean() < 0.5 * raw_steps.mean()


def test_a_moving_face_is_followed_within_a_frame(detector) -> None:  # noqa: ANN001
    v = 3.0
    found = [detector.detect(f) for f in _astronaut_frames(v)]
    raw = [d[0] for d in found if d]
    assert len(raw) >= len(found) - 2  # the detector may miss a frame or two
    tracker = IouTracker(smooth=True)
    smooth = [tracker.update([r], time=i / 30)[0] for i, r in enumerate(raw)]
    cx = np.array([(r.box[0] + r.box[2]) / 2 for r in raw])
    sx = np.array([(s.box[0] + s.box[2]) / 2 for s in smooth])
    lag_frames = float(np.mean(cx[10:] - sx[10:])) / v
    assert lag_frames <= 1.0, lag_frames
    # keypoints travel with the box: the eyes trail the detection by no more than the box does
    eyes = np.array([s.keypoints[0][0] for s in smooth])
    raw_eyes = np.array([r.keypoints[0][0] for r in raw])
    assert float(np.mean(raw_eyes[10:] - eyes[10:])) / v <= 1.5
