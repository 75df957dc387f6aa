from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from streamer.frame import Face
from streamer.stages.base import STAGES, RunContext
from streamer.stages.resize import Resize, target_size
from tests.unit.stages.conftest import make_frame


def _resize(**params: object) -> Resize:
    stage = Resize("small", Resize.Params(**params), RunContext())
    stage.open()
    return stage


def test_registered() -> None:
    assert STAGES["resize"] is Resize


def test_width_only_keeps_aspect() -> None:
    frame = make_frame(0, 160, 120)
    out = _resize(width=80).process(frame)
    assert (out.width, out.height) == (80, 60)
    np.testing.assert_array_equal(out.image, cv2.resize(frame.image, (80, 60), interpolation=cv2.INTER_AREA))
    assert (out.stream.width, out.stream.height) == (80, 60)
    assert (out.index, out.pts, out.time_base) == (frame.index, frame.pts, frame.time_base)
    assert (frame.width, frame.stream.width) == (160, 160)  # input untouched


def test_height_only_keeps_aspect() -> None:
    out = _resize(height=240).process(make_frame(0, 160, 120))
    assert (out.width, out.height) == (320, 240)


@pytest.mark.parametrize(
    ("size", "want", "expected"),
    [
        ((1920, 1080), (None, 360), (640, 360)),
        ((1920, 1080), (500, None), (500, 282)),  # 281.25 -> even 282
        ((640, 480), (101, None), (101, 76)),  # 75.75 -> even 76
        ((1280, 720), (333, None), (333, 188)),  # 187.3 -> even 188
        ((100, 3), (10, None), (10, 2)),  # never below 2
        ((160, 120), (50, 70), (50, 70)),  # both: exact
    ],
)
def test_target_size(size: tuple, want: tuple, expected: tuple) -> None:
    assert target_size(*size, *want) == expected
    w, h = target_size(*size, *want)
    if None in want:
        free = h if want[1] is None else w
        assert free % 2 == 0


def test_both_sizes_are_exact_and_scale_boxes_and_keypoints() -> None:
    face = Face(box=(40, 30, 80, 90), score=0.8, keypoints=((50, 40), (70, 40)), identity="alice")
    frame = make_frame(0, 160, 120, faces=[face])
    out = _resize(width=320, height=60).process(frame)
    assert out.image.shape == (60, 320, 3)
    (f,) = out.faces
    assert f.box == pytest.approx((80, 15, 160, 45))
    np.testing.assert_allclose(f.keypoints, [(100, 20), (140, 20)])
    assert (f.identity, f.score) == ("alice", 0.8)
    assert frame.faces[0] is face  # input annotations untouched


def test_box_still_frames_the_same_content() -> None:
    # a bright square at a known place must stay inside the scaled box
    frame = make_frame(0, 160, 120)
    side = 30
    x0, y0 = 20, 15  # make_image puts its square at (width//8, height//8), side min/4
    box = (x0, y0, x0 + side, y0 + side)
    out = _resize(width=64).process(frame.replace(faces=(Face(box=box, score=1.0),)))
    x1, y1, x2, y2 = (round(v) for v in out.faces[0].box)
    inside = out.image[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1]
    assert (np.abs(inside.astype(int) - (250, 240, 30)) < 40).all()


@pytest.mark.parametrize("interp", ["area", "linear", "cubic", "nearest"])
def test_interpolations(interp: str) -> None:
    out = _resize(width=80, interpolation=interp).process(make_frame(0, 160, 120))
    assert out.image.shape == (60, 80, 3) and out.image.dtype == np.uint8


def test_nearest_differs_from_area_on_upscale() -> None:
    frame = make_frame(0, 160, 120)
    a = _resize(width=400, interpolation="nearest").process(frame).image
    b = _resize(width=400, interpolation="cubic").process(frame).image
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_same_size_is_a_no_op() -> None:
    frame = make_frame(0, 160, 120, faces=[(1, 2, 3, 4)])
    assert _resize(width=160).process(frame) is frame
    assert _resize(width=160, height=120).process(frame) is frame


def test_frames_share_one_stream_info() -> None:
    stage = _resize(width=80)
    frames = [make_frame(i, 160, 120) for i in range(3)]
    stream = frames[0].stream
    outs = [stage.process(f.replace(stream=stream)) for f in frames]
    assert outs[0].stream is outs[1].stream is outs[2].stream
    assert outs[0].stream.time_base == stream.time_base


def test_needs_width_or_height() -> None:
    with pytest.raises(ValidationError) as info:
        Resize.Params()
    assert "width or height" in str(info.value)
    assert "expected width or height" in info.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    "bad", [{"width": 0}, {"height": -2}, {"width": 10, "interpolation": "lanczos"}, {"w": 10}]
)
def test_invalid_params(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Resize.Params(**bad)


def test_face_crop_geometry_is_scaled_with_the_picture() -> None:
    """translate's face crops (Frame.face_crops) follow the resize: the new frame seen through
    the new matrix is the old frame seen through the old one (a later predict pastes there)."""
    from streamer.geometry import FaceCrops, crop_matrix, crop_with

    frame = make_frame(3, 640, 360)
    m = crop_matrix((200.0, 80.0, 360.0, 240.0), 128, 640, 360, eyes=((250.0, 140.0), (310.0, 150.0)))
    crops = FaceCrops(track_ids=(1,), matrices=(m,), size=128, feather=0.1)
    out = _resize(width=320).process(frame.replace(face_crops=crops))
    assert out.face_crops is not None and out.face_crops.size == 128
    (m2,) = out.face_crops.matrices
    before = crop_with(frame.image, m, (128, 128)).astype(int)
    after = crop_with(out.image, m2, (128, 128)).astype(int)
    assert np.abs(before - after).mean() < 6  # the same region (the smaller picture is blurrier)
    # a matrix left unscaled would look at the wrong place: far apart
    assert np.abs(before - crop_with(out.image, m, (128, 128)).astype(int)).mean() > 20
