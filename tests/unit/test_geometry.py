from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from streamer.geometry import (
    aligned_crop,
    crop_matrix,
    eyes_of,
    feather_mask,
    paste_back,
    paste_into,
    square_box,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()  # 512 x 512 RGB, a face near (x 210, y 120)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _apply(m: np.ndarray, pt: tuple[float, float]) -> np.ndarray:
    return m @ np.array([pt[0], pt[1], 1.0])


# ------------------------------------------------------------------ boxes


def test_square_box_centred_with_margin() -> None:
    x1, y1, x2, y2 = square_box((100, 100, 140, 180), 0.25, 640, 480)
    assert x2 - x1 == pytest.approx(120) and y2 - y1 == pytest.approx(120)  # 80 * 1.5
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((120, 140))


def test_square_box_moves_inside_frame() -> None:
    assert square_box((0, 0, 40, 40), 0.25, 640, 480) == pytest.approx((0, 0, 60, 60))
    assert square_box((600, 440, 640, 480), 0.25, 640, 480) == pytest.approx((580, 420, 640, 480))


def test_square_box_larger_than_frame_is_centred_on_it() -> None:
    x1, y1, x2, y2 = square_box((10, 10, 90, 70), 0.25, 100, 80)  # side 120
    assert (x1, y1, x2, y2) == pytest.approx((-10, -20, 110, 100))


def test_eyes_of_keypoints() -> None:
    assert eyes_of(None) is None and eyes_of(((1.0, 2.0),)) is None
    assert eyes_of(((1, 2), (3, 4), (5, 6))) == ((1.0, 2.0), (3.0, 4.0))


# ------------------------------------------------------------------ crops


def test_axis_aligned_crop_is_the_square(astronaut: np.ndarray) -> None:
    crop, m = aligned_crop(astronaut, (170, 80, 250, 160), 120, margin=0.25)
    # square_box: side 120, corner (150, 60): at scale 1 the crop is exactly that slice
    np.testing.assert_array_equal(crop, astronaut[60:180, 150:270])
    np.testing.assert_allclose(m, [[1, 0, -150], [0, 1, -60]])


def test_crop_scales_to_size(astronaut: np.ndarray) -> None:
    crop, m = aligned_crop(astronaut, (170, 80, 250, 160), 60, margin=0.25)
    assert crop.shape == (60, 60, 3)
    np.testing.assert_allclose(_apply(m, (150, 60)), (0, 0))
    np.testing.assert_allclose(_apply(m, (270, 180)), (60, 60))


def test_eyes_are_level_after_aligned_crop(astronaut: np.ndarray) -> None:
    """Rotate the picture by 25 degrees, give the rotated eye positions: the crop is upright
    again, the eyes level, and it shows what the axis-aligned crop of the original shows."""
    box = (170.0, 80.0, 250.0, 160.0)
    eyes = ((195.0, 112.0), (228.0, 112.0))  # level in the original
    centre = (210.0, 120.0)
    rot = cv2.getRotationMatrix2D(centre, 25.0, 1.0)
    rotated = cv2.warpAffine(astronaut, rot, (512, 512), flags=cv2.INTER_LINEAR)
    r_eyes = tuple(tuple(_apply(rot, e)) for e in eyes)
    assert abs(r_eyes[0][1] - r_eyes[1][1]) > 10  # tilted now
    r_box = (centre[0] - 40, centre[1] - 40, centre[0] + 40, centre[1] + 40)  # box centre stays
    crop, m = aligned_crop(rotated, r_box, 120, margin=0.25, eyes=r_eyes)  # type: ignore[arg-type]
    right, left = _apply(m, r_eyes[0]), _apply(m, r_eyes[1])
    assert right[1] == pytest.approx(left[1], abs=1e-6)
    assert left[0] > right[0]  # not flipped upside down
    upright, _ = aligned_crop(astronaut, box, 120, margin=0.25)
    inner = slice(30, 90)  # away from corners the rotation brought in from outside
    assert _psnr(crop[inner, inner], upright[inner, inner]) > 25
    assert _psnr(rotated[60:180, 150:270][inner, inner], upright[inner, inner]) < 20  # it was rotated


def test_crop_matrix_matches_aligned_crop(astronaut: np.ndarray) -> None:
    eyes = ((190.0, 110.0), (230.0, 118.0))
    _, m = aligned_crop(astronaut, (170, 80, 250, 160), 96, eyes=eyes)
    np.testing.assert_allclose(m, crop_matrix((170, 80, 250, 160), 96, 512, 512, eyes=eyes))


# ------------------------------------------------------------------ paste back


def test_feather_mask_shape() -> None:
    mask = feather_mask(64, 64, 0.1)
    assert mask.dtype == np.float32 and mask.shape == (64, 64)
    assert mask[32, 32] == 1.0 and mask[0, 0] < 0.01 and mask[0, 32] < 0.1
    assert np.all(np.diff(mask[32, :32]) >= 0)  # rises towards the centre
    assert np.all(feather_mask(16, 16, 0.0) == 1.0)


def test_identity_round_trip_reproduces_region(astronaut: np.ndarray) -> None:
    box = (170, 80, 250, 160)
    original = astronaut.copy()
    for eyes in (None, ((190.0, 110.0), (230.0, 122.0))):
        crop, m = aligned_crop(astronaut, box, 128, eyes=eyes)
        out = paste_back(astronaut, crop, m, feather=0.1)
        np.testing.assert_array_equal(astronaut, original)  # input untouched
        assert out is not astronaut
        assert _psnr(out[90:150, 180:240], astronaut[90:150, 180:240]) > 32  # two bilinear warps
        np.testing.assert_array_equal(out[:40], astronaut[:40])  # far away: exact
        np.testing.assert_array_equal(out[:, 300:], astronaut[:, 300:])


def test_paste_changes_only_the_face_region(astronaut: np.ndarray) -> None:
    box = (170, 80, 250, 160)
    crop, m = aligned_crop(astronaut, box, 120)  # square (150, 60)-(270, 180)
    white = np.full_like(crop, 255)
    out = paste_back(astronaut, white, m, feather=0.1)
    changed = np.any(out != astronaut, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 60 and ys.max() < 180 and xs.min() >= 150 and xs.max() < 270
    assert np.all(out[110:130, 200:220] == 255)  # centre: the crop
    edge = out[120, 151].astype(int)  # feathered edge: mostly the original
    assert np.abs(edge - astronaut[120, 151]).max() < np.abs(255 - astronaut[120, 151].astype(int)).max()
    hard = paste_back(astronaut, white, m, feather=0.0)
    assert np.all(hard[60:180, 150:270] == 255)


def test_paste_outside_frame_is_a_noop(astronaut: np.ndarray) -> None:
    m = np.array([[1.0, 0.0, 1000.0], [0.0, 1.0, 1000.0]])  # crop origin at (-1000, -1000)
    out = astronaut.copy()
    paste_into(out, np.zeros((50, 50, 3), np.uint8), m)
    np.testing.assert_array_equal(out, astronaut)


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_color_match_undoes_a_colour_cast(astronaut: np.ndarray, space: str) -> None:
    crop, m = aligned_crop(astronaut, (170, 80, 250, 160), 120)
    cast = np.clip(crop.astype(int) * 0.7 + np.array([60, 10, -20]), 0, 255).astype(np.uint8)
    plain = paste_back(astronaut, cast, m, feather=0.1)
    matched = paste_back(astronaut, cast, m, feather=0.1, color_match=space)
    region = (slice(80, 160), slice(170, 250))
    assert _psnr(matched[region], astronaut[region]) > _psnr(plain[region], astronaut[region]) + 6
    assert _psnr(matched[region], astronaut[region]) > 28
