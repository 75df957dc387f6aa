"""Face geometry shared by translate, verify and deepfake: square crops and paste-back.

A face crop is a square around the detector's box, enlarged by ``margin`` on every side, warped
to ``size`` x ``size`` pixels by one 2x3 affine ``M`` (frame → crop). With eye keypoints the crop
is also rotated so the eyes are level, which is what embedders and face translators were trained
on. Paste-back applies the inverse of ``M`` and blends through a feathered mask, so no seam
shows, only inside the bounding rectangle of the warped crop (cheap on large frames).

Nothing here edits its input arrays: ``paste_back`` returns a new image; ``paste_into`` writes
into an image the caller owns (translate uses it to paste several faces into one copy).

Keypoint convention (MediaPipe BlazeFace): 0 = right eye (viewer's left), 1 = left eye,
2 = nose tip, 3 = mouth, 4/5 = ear tragions; ``eyes_of`` picks the first two.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Box = tuple[float, float, float, float]
Point = tuple[float, float]
ColorMatch = Literal["lab", "rgb", "chroma"] | bool


@dataclass(frozen=True)
class FaceCrops:
    """The aligned face crops translate (region faces) worked on in one frame, left in
    ``Frame.face_crops`` so that a later ``predict`` stage can fill the faces of a frame
    translate skipped (``every: k``) without redoing the geometry: paste a predicted crop with
    ``matrices[i]`` and ``feather``, and the rest of the picture is already right.

    All tuples have one entry per face translate handles (after ``only``). On a frame translate
    skipped only the geometry is there (``raw`` and ``styled`` are None): cropping costs a warp
    per face, which a skipped frame should not pay for a stage that may not need it
    (``crop_with(frame.image, matrices[i], (size, size))`` makes it)."""

    track_ids: tuple[int | None, ...]
    matrices: tuple[np.ndarray, ...]  # frame → crop, 2x3 float
    size: int  # crops are size x size
    feather: float
    raw: tuple[np.ndarray, ...] | None = None  # the crops of the frame's own picture (uint8)
    styled: tuple[np.ndarray, ...] | None = None  # the translated crops (same size)

    def scaled(self, sx: float, sy: float) -> FaceCrops:
        """The same crops for the frame scaled by (sx, sy): a point (x, y) of the old frame is
        (sx x, sy y) in the new one, so frame → crop becomes ``M @ diag(1/sx, 1/sy, 1)``; the
        crops themselves are unchanged (the same face region, at the crop's own size)."""
        inv = np.diag([1.0 / sx, 1.0 / sy, 1.0])
        matrices = tuple((m.astype(np.float64) @ inv).astype(m.dtype) for m in self.matrices)
        return dataclasses.replace(self, matrices=matrices)


def square_box(box: Sequence[float], margin: float, frame_w: int, frame_h: int) -> Box:
    """The square around ``box`` (x1, y1, x2, y2) enlarged by ``margin`` x its longer side on
    each side, moved inside the frame where it fits (so crops show picture, not border), and
    centred on the frame along an axis where it does not."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    out: list[float] = []
    for c, limit in ((cx, float(frame_w)), (cy, float(frame_h))):
        lo = c - side / 2.0
        if side <= limit:
            lo = min(max(lo, 0.0), limit - side)
        else:
            lo = (limit - side) / 2.0
        out.append(lo)
    return (out[0], out[1], out[0] + side, out[1] + side)


def eyes_of(keypoints: Sequence[Sequence[float]] | None) -> tuple[Point, Point] | None:
    """(right eye, left eye) from BlazeFace-ordered keypoints, or None without two of them."""
    if keypoints is None or len(keypoints) < 2:
        return None
    (rx, ry), (lx, ly) = keypoints[0][:2], keypoints[1][:2]
    return (float(rx), float(ry)), (float(lx), float(ly))


def crop_matrix(
    box: Sequence[float],
    size: int,
    frame_w: int,
    frame_h: int,
    *,
    margin: float = 0.25,
    eyes: tuple[Point, Point] | None = None,
) -> np.ndarray:
    """The 2x3 float64 affine frame → crop of ``aligned_crop`` (without warping anything)."""
    if eyes is None:
        x1, y1, x2, _ = square_box(box, margin, frame_w, frame_h)
        k = size / (x2 - x1)
        return np.array([[k, 0.0, -x1 * k], [0.0, k, -y1 * k]], np.float64)
    bx1, by1, bx2, by2 = (float(v) for v in box)
    side = max(bx2 - bx1, by2 - by1, 1.0) * (1.0 + 2.0 * margin)
    (rx, ry), (lx, ly) = eyes
    angle = math.atan2(ly - ry, lx - rx)  # 0 when the eyes are level (right eye on the left)
    c, s = math.cos(angle), math.sin(angle)
    k = size / side
    rot = k * np.array([[c, s], [-s, c]], np.float64)  # turns the eye vector onto +x
    center = np.array([(bx1 + bx2) / 2.0, (by1 + by2) / 2.0])
    shift = np.array([size / 2.0, size / 2.0]) - rot @ center
    return np.hstack([rot, shift[:, None]])


def aligned_crop(
    image: np.ndarray,
    box: Sequence[float],
    size: int,
    *,
    margin: float = 0.25,
    eyes: tuple[Point, Point] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` crop of the face in ``box`` and the affine ``M`` (frame → crop).

    Without ``eyes`` the crop is the axis-aligned ``square_box``; with (right eye, left eye)
    it is rotated about the box centre so the eyes are level. Pixels outside the frame are
    reflected.
    """
    h, w = image.shape[:2]
    m = crop_matrix(box, size, w, h, margin=margin, eyes=eyes)
    return crop_with(image, m, (size, size)), m


def crop_with(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` seen through the crop matrix ``m`` (frame → crop), ``size`` = (h, w): the
    warp ``aligned_crop`` does (bilinear, reflected border), for a matrix kept from another
    frame (predict looks at a new frame through a face track's last crop window)."""
    import cv2

    return cv2.warpAffine(
        image, m, (size[1], size[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def _ramp(n: int, px: float) -> np.ndarray:
    d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5).astype(np.float32)
    if px <= 0:
        return np.ones(n, np.float32)
    r = np.clip(d / np.float32(px), 0.0, 1.0)
    return r * r * (3.0 - 2.0 * r)  # smoothstep: no visible kink where the ramp meets 1


def feather_mask(height: int, width: int, feather: float) -> np.ndarray:
    """float32 mask: 1 inside, a smooth ramp to 0 over ``feather`` x the shorter side at every
    edge (a hard rectangle for ``feather`` 0). Read-only: cached per size, shared by callers."""
    return _feather_mask(int(height), int(width), float(feather))


@functools.lru_cache(maxsize=32)
def _feather_mask(height: int, width: int, feather: float) -> np.ndarray:
    px = feather * min(height, width)
    mask = np.outer(_ramp(height, px), _ramp(width, px)).astype(np.float32)
    mask.flags.writeable = False
    return mask


def face_mask(size: int, keypoints: np.ndarray | None, box: np.ndarray | None, feather: float) -> np.ndarray:
    """float32 [size, size] mask in a face crop's pixels shaped like the face: an ellipse from the
    face's BlazeFace keypoints in crop pixels (eyes, nose, mouth, ears: centred on the nose, as wide
    as the ears are apart, from the brow to below the chin, tilted with the eye line), else the
    ellipse inscribed in ``box`` (crop pixels), else the one inscribed in the crop. 1 inside,
    a smoothstep ramp ``feather`` x the ellipse's shorter axis wide *inside* its edge, and exactly
    0 outside the ellipse, so a paste through it cannot touch anything outside the face."""
    if keypoints is not None and len(keypoints) >= 4:
        k = np.asarray(keypoints, np.float64)
        eyes, nose, mouth = (k[0] + k[1]) / 2.0, k[2], k[3]
        eye_vec = k[1] - k[0]
        eye_dist = float(np.hypot(*eye_vec)) or 1.0
        angle = math.atan2(eye_vec[1], eye_vec[0])
        width = float(np.hypot(*(k[5] - k[4]))) if len(k) >= 6 else 0.0
        half_w = max(width / 2.0, 0.95 * eye_dist)
        down = float(np.hypot(*(mouth - eyes))) or eye_dist
        half_h = 1.45 * down
        center = nose + 0.1 * (mouth - eyes)
    else:
        x1, y1, x2, y2 = (float(v) for v in (box if box is not None else (0, 0, size, size)))
        center, half_w, half_h, angle = (
            np.array([(x1 + x2) / 2, (y1 + y2) / 2]),
            (x2 - x1) / 2,
            (y2 - y1) / 2,
            0.0,
        )
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = xs - np.float32(center[0]), ys - np.float32(center[1])
    u = (dx * c + dy * s) / np.float32(max(half_w, 1.0))
    v = (-dx * s + dy * c) / np.float32(max(half_h, 1.0))
    inside = 1.0 - np.sqrt(u * u + v * v)  # > 0 inside: the fraction of the way from edge to centre
    if feather <= 0:
        return (inside > 0).astype(np.float32)
    r = np.clip(inside / np.float32(2.0 * feather), 0.0, 1.0)  # ramp: feather x the axis' full length
    return (r * r * (3.0 - 2.0 * r)).astype(np.float32)


def keep_chroma(styled: np.ndarray, source: np.ndarray) -> np.ndarray:
    """uint8 RGB: the brightness (Y of YCrCb) of ``styled`` with the colour (Cr, Cb) of ``source``:
    a style changes the strokes and shading, the face keeps its own skin and background colours."""
    import cv2

    y = cv2.cvtColor(styled, cv2.COLOR_RGB2YCrCb)
    y[..., 1:] = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(y, cv2.COLOR_YCrCb2RGB)


def _match_colors(src: np.ndarray, ref: np.ndarray, weight: np.ndarray, space: str) -> np.ndarray:
    """``src`` (float32 RGB 0..255) with per-channel mean/std moved to those of ``ref`` (both
    weighted by ``weight``), in Lab or RGB."""
    import cv2

    if space == "lab":
        a = cv2.cvtColor(src / 255.0, cv2.COLOR_RGB2LAB)
        b = cv2.cvtColor(ref / 255.0, cv2.COLOR_RGB2LAB)
    else:
        a, b = src, ref
    wsum = float(weight.sum()) or 1.0
    wt = weight[..., None]
    mu_a = (a * wt).sum((0, 1)) / wsum
    mu_b = (b * wt).sum((0, 1)) / wsum
    sd_a = np.sqrt(((a - mu_a) ** 2 * wt).sum((0, 1)) / wsum) + 1e-3
    sd_b = np.sqrt(((b - mu_b) ** 2 * wt).sum((0, 1)) / wsum)
    out = ((a - mu_a) * (sd_b / sd_a) + mu_b).astype(np.float32)
    if space == "lab":
        out = cv2.cvtColor(out, cv2.COLOR_LAB2RGB) * 255.0
    return out


def paste_into(
    out: np.ndarray,
    crop: np.ndarray,
    m: np.ndarray,
    *,
    feather: float = 0.1,
    color_match: ColorMatch = False,
    mask: np.ndarray | None = None,
) -> None:
    """Blend ``crop`` back into ``out`` in place (``out`` must be an image the caller owns);
    ``m`` maps the frame onto the crop's own pixel grid (resize the crop first if a model
    changed its size). ``color_match`` ("lab", "rgb" or True for Lab) first gives the crop
    the colour mean/std of the picture it replaces; "chroma" keeps the picture's own colours
    (:func:`keep_chroma`). ``mask`` (float32, the crop's size; :func:`face_mask`) replaces the
    feathered square: where it is 0 the picture is left exactly as it was."""
    import cv2

    h, w = out.shape[:2]
    size_h, size_w = crop.shape[:2]
    inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
    corners = np.array([[0, 0, 1], [size_w, 0, 1], [0, size_h, 1], [size_w, size_h, 1]], np.float64)
    pts = corners @ inv.T
    x0, y0 = (max(0, int(math.floor(v))) for v in pts.min(0))
    x1, y1 = (int(math.ceil(v)) for v in pts.max(0))
    x1, y1 = min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return  # the crop lies outside the frame
    roi_inv = inv.copy()
    roi_inv[:, 2] -= (x0, y0)  # warp straight into the region of interest
    if mask is None:
        mask = feather_mask(size_h, size_w, feather)
    elif mask.shape != (size_h, size_w):
        raise ValueError(f"paste_into: mask of {mask.shape} for a crop of {(size_h, size_w)}")
    src = crop
    if color_match:
        space = "lab" if color_match is True else str(color_match)
        ref8 = cv2.warpAffine(
            out,
            np.asarray(m, np.float64),
            (size_w, size_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if space == "chroma":
            src = keep_chroma(crop, ref8)
        else:
            matched = _match_colors(crop.astype(np.float32), ref8.astype(np.float32), mask, space)
            src = np.clip(np.rint(matched), 0, 255).astype(np.uint8)
    size = (x1 - x0, y1 - y0)
    # uint8 warp and OpenCV's weighted blend: ~5x faster than the same sums in float32 numpy
    warped = cv2.warpAffine(src, roi_inv, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(
        mask, roi_inv, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
    )
    region = out[y0:y1, x0:x1]
    region[...] = cv2.blendLinear(warped, region, alpha, 1.0 - alpha)


def paste_back(
    image: np.ndarray,
    crop: np.ndarray,
    m: np.ndarray,
    *,
    feather: float = 0.1,
    color_match: ColorMatch = False,
) -> np.ndarray:
    """A copy of ``image`` with ``crop`` (made with affine ``m``) blended back through a
    feathered mask; ``image`` itself is not changed."""
    out = image.copy()
    paste_into(out, crop, m, feather=feather, color_match=color_match)
    return out
