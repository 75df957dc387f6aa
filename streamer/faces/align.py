"""dlib's face chips from our own landmarks: the crop dlib's ResNet face descriptor was trained on.

dlib cuts a 150 x 150 chip (``get_face_chip(img, shape, 150, padding=0.25)``) with the similarity
transform that puts its 5 landmarks (the eyes' corners and the base of the nose) closest, in the
least-squares sense, to a fixed mean face. streamer's detector (BlazeFace) gives other points:
the eye centres, the nose tip and the mouth. :data:`CHIP_TEMPLATE` says where those four land in
dlib's chip: measured by mapping BlazeFace's keypoints through dlib's own chip transform on the
astronaut and Grace Hopper photos and on every 6th frame of the sample clips made from them
(87 faces; dlib's HOG detector + 5-point model as the reference; a one-off measurement, its
script not kept), then made left-right symmetric about dlib's template axis (x = 74.0) so no one
person's head turn is built in. The same least-squares similarity (Umeyama) from our four points
to the template gives our chip. The carphone clip, never used for the fit, checks it: see
``models/face_embedder.md``.

Faces without keypoints (the ``haar`` detector) fall back to a square crop around the box,
scaled so a typical face box fills the chip as dlib's does; decisions are less reliable then.

Example::

    m = chip_matrix(face.keypoints, size=150)        # 2x3 frame -> chip
    chip = crop_with(frame.image, m, (150, 150))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamer.geometry import crop_with

#: Size of dlib's chips (padding 0.25) and where BlazeFace's right eye, left eye, nose tip and
#: mouth land in them (pixels; the right eye is the viewer's left).
CHIP_SIZE = 150
CHIP_TEMPLATE = np.array([[47.55, 49.3], [100.45, 49.3], [74.0, 74.1], [74.0, 101.3]], np.float64)
#: Without keypoints: the chip's side as a multiple of the detector's box side (BlazeFace boxes
#: measured against dlib's chips on the same faces: the box is ~0.46 of the chip).
BOX_TO_CHIP = 2.2


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 float64: the rotation + uniform scale + shift that maps points ``src`` [K, 2] closest to
    ``dst`` [K, 2] in the least-squares sense (Umeyama 1991), as dlib's find_similarity_transform."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, d, vt = np.linalg.svd(b.T @ a / len(src))
    sign = np.diag([1.0, float(np.sign(np.linalg.det(u @ vt)) or 1.0)])
    rot = u @ sign @ vt
    var = float((a**2).sum() / len(src))
    scale = float((d * np.diag(sign)).sum() / var) if var > 0 else 1.0
    shift = md - scale * rot @ ms
    return np.hstack([scale * rot, shift[:, None]])


def chip_matrix(keypoints: Sequence[Sequence[float]], size: int = CHIP_SIZE) -> np.ndarray:
    """2x3 frame -> chip of ``size`` px for BlazeFace-ordered keypoints (at least the first four)."""
    pts = np.asarray([k[:2] for k in keypoints[:4]], np.float64)
    if pts.shape != (4, 2):
        raise ValueError(f"chip_matrix: expected >= 4 BlazeFace keypoints, got {len(keypoints)}")
    return similarity(pts, CHIP_TEMPLATE * (size / CHIP_SIZE))


def box_matrix(box: Sequence[float], size: int = CHIP_SIZE) -> np.ndarray:
    """2x3 frame -> chip without keypoints: a square of ``BOX_TO_CHIP`` x the box around its centre."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * BOX_TO_CHIP
    k = size / side
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return np.array([[k, 0.0, size / 2.0 - k * cx], [0.0, k, size / 2.0 - k * cy]], np.float64)


def face_chip_matrix(
    box: Sequence[float], keypoints: Sequence[Sequence[float]] | None, size: int = CHIP_SIZE
) -> np.ndarray:
    """The chip transform of one face: from its keypoints when it has four, else from its box."""
    if keypoints is not None and len(keypoints) >= 4:
        return chip_matrix(keypoints, size)
    return box_matrix(box, size)


def face_chips(
    image: np.ndarray,
    faces: Sequence[tuple[Sequence[float], Sequence[Sequence[float]] | None]],
    size: int = CHIP_SIZE,
) -> np.ndarray:
    """uint8 [N, size, size, 3]: dlib-style chips of (box, keypoints) pairs (bilinear, reflected border).

    Chips much smaller than the face are cut from a half-size copy first, as dlib does for
    downscaling, so a 400 px face does not alias into its 150 px chip."""
    import cv2

    out = np.empty((len(faces), size, size, 3), np.uint8)
    pyramid = [image]
    for i, (box, keypoints) in enumerate(faces):
        m = face_chip_matrix(box, keypoints, size)
        level = 0
        while float(np.hypot(m[0, 0], m[0, 1])) < 0.5 and min(pyramid[level].shape[:2]) > 2 * size:
            if len(pyramid) == level + 1:
                pyramid.append(cv2.pyrDown(pyramid[level]))
            # a point p of one level is p / 2 on the next: chip = A (2 q) + t
            m = np.hstack([2.0 * m[:, :2], m[:, 2:]])
            level += 1
        out[i] = crop_with(pyramid[level], m, (size, size))
    return out
