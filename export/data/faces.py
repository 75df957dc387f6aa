"""Face identities for training and evaluating the Siamese embedder, built offline and deterministically.

Why: the embedder must learn "same person / different person" without downloading a face data
set. Two kinds of identity are used:

- **real**: the few real face photos that ship with installed packages (scikit-image's
  astronaut, cameraman and the 100 small faces of ``lfw_subset``; matplotlib's Grace Hopper).
  Each photo is its own identity; heavy augmentation turns it into many samples.
- **synthetic**: procedurally drawn faces. An identity fixes face shape, skin tone, eye, brow,
  nose, mouth and ear shapes and positions, hair style and colour, marks, glasses and beard; a
  sample varies pose (small yaw/pitch by moving and squeezing features, roll), expression,
  lighting, background and clothes.

Every sample goes through the same path as a runtime face: a face box and two eye centres
(perturbed the way a detector's would be) are turned into a 112 x 112 crop by
``streamer.geometry.crop_matrix`` (the matrix ``aligned_crop`` warps with; eyes level,
margin 0.25), followed by photometric damage (colour, gamma, lighting, blur, resolution loss,
noise, JPEG, occlusion) and a horizontal flip (a flipped face is the same person).
``FaceData.build_pools`` adds crops cut exactly as the runtime cuts them: each real training
photo filmed by a virtual camera (alone or in a split-screen frame), BlazeFace run on the frame,
and the crop taken from the detector's box and eye keypoints (:func:`detector_crops`).

A sample is a pure function of ``(seed, identity, index)``: ``FaceData(seed).sample(ident, i)``
always returns the same pixels, so training and the held-out evaluation are reproducible.

Example::

    data = FaceData(seed=0)
    crop = data.sample(data.train[0], 3)      # uint8 [112, 112, 3] RGB
    crops = data.batch(data.heldout[:4], k=2)  # [8, 112, 112, 3], identities repeated k times
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from streamer.geometry import crop_matrix

SIZE = 112
MARGIN = 0.25
CANVAS = 144  # synthetic faces are drawn on a canvas this big, face box about 70 x 80 px
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"

# Tight face box (brow to chin, cheek to cheek) and eye centres (image-left eye first), hand-measured
# in samples/make_samples.py (ASTRONAUT_FACE, HOPPER_FACE); tests check that these copies agree.
ASTRONAUT_BOX = (181.0, 78.0, 271.0, 189.0)
ASTRONAUT_EYES = ((203.5, 101.5), (246.5, 103.5))
HOPPER_BOX = (165.0, 140.0, 357.0, 331.0)
HOPPER_EYES = ((221.5, 188.0), (305.0, 187.0))
# skimage.data.camera(): a three-quarter profile looking right; the far eye is hidden, so the
# eye line is drawn level through the visible eye (measured on a zoomed grid like the above).
CAMERAMAN_BOX = (193.0, 128.0, 256.0, 195.0)
CAMERAMAN_EYES = ((213.0, 150.0), (236.0, 150.0))
# skimage.data.lfw_subset(): 25 x 25 tight face crops; eyes sit near (8, 10.5) and (17, 10.5).
LFW_PAD = 12
LFW_BOX = (2.0 + LFW_PAD, 3.0 + LFW_PAD, 23.0 + LFW_PAD, 25.0 + LFW_PAD)
LFW_EYES = ((8.0 + LFW_PAD, 10.5 + LFW_PAD), (17.0 + LFW_PAD, 10.5 + LFW_PAD))
LFW_UPSCALE = 4


@dataclass(frozen=True)
class Identity:
    """One person: ``kind`` "real" (a photo) or "synthetic" (drawn); ``index`` numbers it within its kind."""

    kind: str
    name: str
    index: int


# --------------------------------------------------------------------------------------------------
# Real photos


@dataclass(frozen=True)
class Photo:
    """A real photo with its face box and eye centres (image-left eye first)."""

    image: np.ndarray
    box: tuple[float, float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]]


def astronaut_photo() -> Photo:
    """scikit-image's astronaut (Eileen Collins), the person of samples/one_face.mp4 and two_people.mp4."""
    from skimage import data

    return Photo(np.ascontiguousarray(data.astronaut()), ASTRONAUT_BOX, ASTRONAUT_EYES)


def hopper_photo() -> Photo:
    """matplotlib's grace_hopper.jpg, the right-hand person of samples/two_people.mp4."""
    import matplotlib.cbook
    import matplotlib.pyplot as plt

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        img = plt.imread(f, format="jpg")[..., :3]
    return Photo(np.ascontiguousarray(img), HOPPER_BOX, HOPPER_EYES)


def _cameraman_photo() -> Photo:
    from skimage import data

    gray = data.camera()
    return Photo(np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2)), CAMERAMAN_BOX, CAMERAMAN_EYES)


@cache
def _lfw_faces() -> np.ndarray:
    from skimage import data

    return data.lfw_subset()[:100]  # the first 100 are faces, the rest non-faces


def _lfw_photo(i: int) -> Photo:
    """LFW face ``i`` upscaled 4x, padded with a blurred replica of its border (no mirrored faces)."""
    import cv2

    tile = np.round(_lfw_faces()[i] * 255).astype(np.uint8)
    padded = cv2.copyMakeBorder(tile, LFW_PAD, LFW_PAD, LFW_PAD, LFW_PAD, cv2.BORDER_REPLICATE)
    padded = cv2.GaussianBlur(padded, (0, 0), 3.0)
    padded[LFW_PAD:-LFW_PAD, LFW_PAD:-LFW_PAD] = tile
    u = LFW_UPSCALE
    big = cv2.resize(padded, None, fx=u, fy=u, interpolation=cv2.INTER_CUBIC)
    rgb = np.ascontiguousarray(np.repeat(big[..., None], 3, axis=2))
    box = tuple(v * u for v in LFW_BOX)
    eyes = tuple((x * u, y * u) for x, y in LFW_EYES)
    return Photo(rgb, box, eyes)  # type: ignore[arg-type]


@cache
def real_photo(name: str) -> Photo:
    """The photo of real identity ``name`` ("astronaut", "grace_hopper", "cameraman", "lfw_NN")."""
    if name == "astronaut":
        return astronaut_photo()
    if name == "grace_hopper":
        return hopper_photo()
    if name == "cameraman":
        return _cameraman_photo()
    if name.startswith("lfw_"):
        return _lfw_photo(int(name[4:]))
    raise ValueError(f"unknown real identity {name!r}: expected astronaut, grace_hopper, cameraman or lfw_NN")


# --------------------------------------------------------------------------------------------------
# Synthetic identities

SKIN_LIGHT = np.array([236, 204, 184], np.float64)
SKIN_DARK = np.array([84, 56, 42], np.float64)
HAIR = np.array(
    [
        [20, 16, 14],
        [55, 35, 22],
        [100, 66, 38],
        [170, 130, 80],
        [215, 185, 120],
        [150, 60, 30],
        [140, 140, 140],
        [225, 225, 220],
        [40, 30, 60],
    ],
    np.float64,
)
IRIS = np.array([[60, 40, 25], [100, 70, 40], [70, 110, 160], [80, 120, 80], [30, 25, 20]], np.float64)


@dataclass(frozen=True)
class Traits:
    """What makes a synthetic person that person (fixed for every sample of the identity)."""

    fw: float  # face half-width, canvas px
    fh: float  # face half-height
    power: float  # super-ellipse exponent of the outline (round .. square)
    jaw: float  # width of the lower face relative to the upper
    skin: np.ndarray
    eye_y: float  # eye line below the face centre, relative to fh (negative: above)
    eye_dx: float  # half the eye distance, relative to fw
    eye_rx: float
    eye_ry: float
    iris: np.ndarray
    brow_gap: float
    brow_thick: float
    brow_len: float
    brow_tilt: float
    brow_arch: float
    nose_len: float  # relative to fh
    nose_w: float
    nose_style: int
    mouth_y: float  # relative to fh
    mouth_w: float
    lip: float
    lip_color: np.ndarray
    hair: np.ndarray
    hair_style: int  # 0 short, 1 cap, 2 long, 3 bangs, 4 bald
    hairline: float
    ear: float
    marks: tuple[tuple[float, float, float], ...]  # (x, y relative to fw/fh, radius) moles
    glasses: int  # 0 none, 1 round, 2 square
    glasses_color: np.ndarray
    beard: int  # 0 none, 1 moustache, 2 beard
    cheek: float  # blush strength


def traits(seed: int, index: int) -> Traits:
    """The traits of synthetic identity ``index``; a pure function of ``(seed, index)``."""
    r = np.random.default_rng([seed, 1, index])
    u = r.uniform
    t = u(0, 1) ** 1.3
    skin = SKIN_LIGHT * (1 - t) + SKIN_DARK * t + r.normal(0, 8, 3)
    hair = HAIR[r.integers(len(HAIR))] + r.normal(0, 10, 3)
    n_marks = int(r.integers(0, 4)) if u() < 0.4 else 0
    marks = tuple((u(-0.7, 0.7), u(-0.3, 0.7), u(1.0, 2.2)) for _ in range(n_marks))
    return Traits(
        fw=u(25, 34),
        fh=u(33, 42),
        power=u(1.8, 2.8),
        jaw=u(0.72, 1.0),
        skin=np.clip(skin, 0, 255),
        eye_y=u(-0.28, -0.08),
        eye_dx=u(0.30, 0.46),
        eye_rx=u(3.5, 6.5),
        eye_ry=u(0.35, 0.7),
        iris=IRIS[r.integers(len(IRIS))] + r.normal(0, 8, 3),
        brow_gap=u(4, 9),
        brow_thick=u(1.2, 4.0),
        brow_len=u(0.8, 1.5),
        brow_tilt=u(-0.25, 0.25),
        brow_arch=u(-1.0, 3.0),
        nose_len=u(0.22, 0.45),
        nose_w=u(3, 8),
        nose_style=int(r.integers(3)),
        mouth_y=u(0.38, 0.6),
        mouth_w=u(6, 13),
        lip=u(1.0, 3.5),
        lip_color=np.clip(skin * u(0.55, 0.85) + np.array([40, 0, 0]) * u(0, 1), 0, 255),
        hair=np.clip(hair, 0, 255),
        hair_style=int(r.integers(5)),
        hairline=u(0.45, 0.85),
        ear=u(4, 8),
        marks=marks,
        glasses=int(r.choice(3, p=[0.8, 0.1, 0.1])),
        glasses_color=np.clip(r.uniform(0, 200, 3), 0, 255),
        beard=int(r.choice(3, p=[0.8, 0.1, 0.1])),
        cheek=u(0, 0.25),
    )


def _col(c: np.ndarray, k: float = 1.0) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.clip(c * k, 0, 255))  # type: ignore[return-value]


def _ellipse(
    img: np.ndarray,
    c: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
    color: tuple[float, ...],
    thickness: int = -1,
    a0: float = 0,
    a1: float = 360,
) -> None:
    import cv2

    s = 16  # 4 fractional bits: sub-pixel positions so small pose changes move features smoothly
    cv2.ellipse(
        img,
        (round(c[0] * s), round(c[1] * s)),
        (max(1, round(axes[0] * s)), max(1, round(axes[1] * s))),
        angle,
        a0,
        a1,
        color,
        thickness,
        cv2.LINE_AA,
        4,
    )


def _poly(
    img: np.ndarray, pts: np.ndarray, color: tuple[float, ...], closed: bool = True, thickness: int = -1
) -> None:
    import cv2

    p = np.round(np.asarray(pts) * 16).astype(np.int32).reshape(-1, 1, 2)
    if thickness < 0:
        cv2.fillPoly(img, [p], color, cv2.LINE_AA, 4)
    else:
        cv2.polylines(img, [p], closed, color, max(1, thickness), cv2.LINE_AA, 4)


def draw_synthetic(tr: Traits, rng: np.random.Generator) -> Photo:
    """One sample of a synthetic identity on a ``CANVAS`` square: pose, expression, light, background."""
    import cv2

    n = CANVAS
    u = rng.uniform
    # background: a random colour gradient with soft blobs (never a cue for identity)
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    g = np.linspace(0, 1, n)[:, None, None]
    img = (c0 * (1 - g) + c1 * g).repeat(n, axis=1).astype(np.float32)
    for _ in range(int(rng.integers(0, 4))):
        _ellipse(img, (u(0, n), u(0, n)), (u(5, 40), u(5, 40)), u(0, 180), _col(rng.uniform(0, 255, 3)))
    img = cv2.GaussianBlur(img, (0, 0), u(1, 6))

    yaw, pitch = u(-0.35, 0.35), u(-0.15, 0.15)
    cx, cy = n / 2 + u(-3, 3), n / 2 + 4 + u(-3, 3)
    fw, fh = tr.fw * (1 - 0.12 * abs(yaw)), tr.fh
    skin = _col(tr.skin)
    hair = _col(tr.hair)
    # neck and clothes (per-sample colour)
    _poly(
        img,
        np.array(
            [
                [cx - fw * 0.45, cy + fh * 0.6],
                [cx + fw * 0.45, cy + fh * 0.6],
                [cx + fw * 0.5, n],
                [cx - fw * 0.5, n],
            ]
        ),
        _col(tr.skin, 0.85),
    )
    _ellipse(img, (cx, n + 10), (fw * 2.2, 30), 0, _col(rng.uniform(0, 255, 3)))
    # hair behind the head (long styles)
    if tr.hair_style == 2:
        _poly(
            img,
            np.array(
                [
                    [cx - fw * 1.15, cy - fh * 0.4],
                    [cx + fw * 1.15, cy - fh * 0.4],
                    [cx + fw * 1.25, cy + fh * 1.1],
                    [cx - fw * 1.25, cy + fh * 1.1],
                ]
            ),
            hair,
        )
    # ears
    ex = fw * 0.98
    for side in (-1, 1):
        vis = 1 - 0.8 * max(0.0, side * -yaw) * 2  # the ear on the far side hides when turning
        if vis > 0.2:
            _ellipse(
                img,
                (cx + side * ex + yaw * fw * 0.3, cy - fh * 0.05),
                (tr.ear * 0.6 * vis, tr.ear),
                0,
                _col(tr.skin, 0.92),
            )
    # face outline: a super-ellipse whose lower half narrows by ``jaw``
    th = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    px = np.sign(c) * np.abs(c) ** (2 / tr.power) * fw
    py = np.sign(s) * np.abs(s) ** (2 / tr.power) * fh
    px = np.where(py > 0, px * (1 - (1 - tr.jaw) * np.clip(py / fh, 0, 1) ** 1.5), px)
    _poly(img, np.stack([cx + px + yaw * fw * 0.1, cy + py], 1), skin)
    # hair on top
    if tr.hair_style in (0, 1, 2, 3):
        top = cy - fh * (1.0 + 0.15 * (tr.hair_style == 1))
        _ellipse(img, (cx + yaw * fw * 0.1, cy - fh * 0.35), (fw * 1.08, fh * 0.72), 0, hair, -1, 180, 360)
        hl = cy - fh * tr.hairline
        _poly(
            img,
            np.array(
                [
                    [cx - fw * 1.05, cy - fh * 0.35],
                    [cx - fw * 0.9, hl],
                    [cx + fw * 0.9, hl],
                    [cx + fw * 1.05, cy - fh * 0.35],
                    [cx, top],
                ]
            ),
            hair,
        )
        if tr.hair_style == 3:  # bangs
            _ellipse(img, (cx + fw * 0.2, hl), (fw * 0.8, fh * 0.18), 10, hair)

    fx = yaw * fw * 0.45  # features move towards the turn
    fy = pitch * fh * 0.5
    squeeze = (1 - max(0.0, yaw) * 0.6, 1 - max(0.0, -yaw) * 0.6)  # far eye narrower
    eyes = []
    openness = u(0.35, 1.15) if rng.uniform() < 0.85 else u(0.05, 0.3)
    brow_raise = u(-1.5, 2.5)
    for i, side in enumerate((-1, 1)):
        ex_ = cx + side * tr.eye_dx * fw * (0.85 + 0.15 * squeeze[i]) + fx
        ey_ = cy + tr.eye_y * fh + fy
        eyes.append((ex_, ey_))
        rx, ry = tr.eye_rx * squeeze[i], max(0.6, tr.eye_rx * tr.eye_ry * openness)
        _ellipse(img, (ex_, ey_), (rx, ry), 0, (245, 245, 240))
        _ellipse(img, (ex_ + yaw * rx * 0.5, ey_), (min(rx, ry) * 0.95, ry * 0.95), 0, _col(tr.iris))
        _ellipse(img, (ex_ + yaw * rx * 0.5, ey_), (min(rx, ry) * 0.4, ry * 0.4), 0, (15, 10, 10))
        _ellipse(img, (ex_, ey_), (rx, ry), 0, _col(tr.skin, 0.55), 1)
        # brow
        bl = tr.eye_rx * tr.brow_len * squeeze[i]
        by = ey_ - tr.eye_rx * tr.eye_ry - tr.brow_gap - brow_raise
        xs = np.linspace(-1, 1, 7)
        pts = np.stack([ex_ + xs * bl, by - tr.brow_arch * (1 - xs**2) + side * xs * tr.brow_tilt * bl], 1)
        _poly(img, pts, _col(tr.hair, 0.8), closed=False, thickness=round(tr.brow_thick))
        if tr.glasses:
            gc = _col(tr.glasses_color)
            if tr.glasses == 1:
                _ellipse(img, (ex_, ey_), (tr.eye_rx * 1.9 * squeeze[i], tr.eye_rx * 1.6), 0, gc, 1)
            else:
                w2, h2 = tr.eye_rx * 2.0 * squeeze[i], tr.eye_rx * 1.4
                _poly(
                    img,
                    np.array(
                        [
                            [ex_ - w2, ey_ - h2],
                            [ex_ + w2, ey_ - h2],
                            [ex_ + w2, ey_ + h2],
                            [ex_ - w2, ey_ + h2],
                        ]
                    ),
                    gc,
                    thickness=1,
                )
    if tr.glasses:
        _poly(
            img,
            np.array(
                [[eyes[0][0] + tr.eye_rx * 1.8, eyes[0][1]], [eyes[1][0] - tr.eye_rx * 1.8, eyes[1][1]]]
            ),
            _col(tr.glasses_color),
            closed=False,
            thickness=1,
        )
    # nose
    ncx = cx + fx * 1.3
    ny0, ny1 = cy + tr.eye_y * fh + fy + 2, cy + (tr.eye_y + tr.nose_len + 0.15) * fh + fy
    shade = _col(tr.skin, 0.7)
    if tr.nose_style == 0:
        _poly(
            img,
            np.array([[ncx, ny0], [ncx + tr.nose_w * 0.5 + yaw * 3, ny1], [ncx - tr.nose_w * 0.5, ny1]]),
            shade,
            thickness=1,
        )
    elif tr.nose_style == 1:
        _poly(img, np.array([[ncx + yaw * 4, ny0], [ncx + yaw * 6, ny1]]), shade, closed=False, thickness=1)
        _ellipse(img, (ncx - tr.nose_w * 0.35, ny1), (1.4, 1.0), 0, shade)
        _ellipse(img, (ncx + tr.nose_w * 0.35, ny1), (1.4, 1.0), 0, shade)
    else:
        _ellipse(img, (ncx, ny1 - 1), (tr.nose_w * 0.6, tr.nose_w * 0.4), 0, _col(tr.skin, 0.85))
        _ellipse(img, (ncx, ny1 - 1), (tr.nose_w * 0.6, tr.nose_w * 0.4), 0, shade, 1, 0, 180)
    # cheeks, marks, beard
    if tr.cheek > 0.05:
        for side in (-1, 1):
            blush = _col(tr.skin * (1 - tr.cheek) + np.array([220, 90, 90]) * tr.cheek)
            _ellipse(img, (cx + side * fw * 0.55 + fx, cy + fh * 0.2 + fy), (fw * 0.18, fh * 0.1), 0, blush)
    for mx, my, mr in tr.marks:
        _ellipse(
            img, (cx + mx * fw + fx * (1 - abs(mx)), cy + my * fh + fy), (mr, mr), 0, _col(tr.skin, 0.35)
        )
    my_ = cy + tr.mouth_y * fh + fy
    mcx = cx + fx * 1.1
    if tr.beard == 2:
        _ellipse(img, (mcx, my_ + fh * 0.18), (fw * 0.75, fh * 0.42), 0, _col(tr.hair, 0.9), -1, 0, 180)
    if tr.beard:
        _ellipse(img, (mcx, my_ - 4), (tr.mouth_w * 1.1, 3.0), 0, _col(tr.hair, 0.9))
    # mouth: smile bends the corners, open shows a dark inside
    smile, open_ = u(-0.4, 1.0), (u(0, 1) if rng.uniform() < 0.35 else 0.0)
    mw = tr.mouth_w * (1 + 0.15 * smile) * (1 - 0.25 * abs(yaw))
    xs = np.linspace(-1, 1, 11)
    upper = np.stack([mcx + xs * mw, my_ - smile * 3 * xs**2 - open_ * 2 * (1 - xs**2)], 1)
    lower = np.stack([mcx + xs * mw, my_ - smile * 3 * xs**2 + (open_ * 6 + tr.lip) * (1 - xs**2)], 1)
    _poly(img, np.concatenate([upper, lower[::-1]]), _col(tr.lip_color))
    if open_ > 0.15:
        inner_l = np.stack([mcx + xs * mw * 0.8, my_ - smile * 3 * xs**2 + open_ * 5 * (1 - xs**2)], 1)
        _poly(img, np.concatenate([upper * [1, 1] + [0, 1], inner_l[::-1]]), (40, 20, 20))
    # lighting: a directional gradient over the whole picture plus ambient
    ang, strength = u(0, 2 * np.pi), u(0, 0.5)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    grad = ((xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)) / (1.5 * fw)
    light = (u(0.75, 1.15) * (1 + strength * np.clip(grad, -1, 1)))[..., None]
    img = np.clip(img * light, 0, 255).astype(np.uint8)
    box = (cx - fw, cy - fh * 0.7 + fy, cx + fw, cy + fh)
    return Photo(img, box, (eyes[0], eyes[1]))


# --------------------------------------------------------------------------------------------------
# Geometry (the runtime's crop, with detector-like noise) and photometric damage


def view(
    photo: Photo, rng: np.random.Generator, *, size: int = SIZE, jitter: float = 1.0, wide: bool = False
) -> np.ndarray:
    """A ``size`` crop of ``photo``'s face as the runtime crops it, with pose and detector noise.

    The picture is first rolled (up to 15 degrees), scaled and squeezed horizontally about the
    face (a cheap stand-in for yaw) by an affine ``A``; the face box and eyes move with it, then
    get detector noise (box centre, size, each eye). ``crop_matrix`` (what ``aligned_crop``
    warps with: eyes level, margin 0.25) maps that to the crop; 15 % of samples crop without
    eyes, as the runtime does when a detector gives none. One warp renders ``M @ A``.
    ``jitter`` scales all noise (0 gives the plain aligned crop of the measured box). ``wide``
    (training samples) widens the detector noise to what BlazeFace does on moving video: box
    0.75-1.15 x, centre sigma 7 % across and 13 % down/up, each eye sigma 6 % (held-out samples
    keep the narrower noise, so held-out numbers stay comparable between runs).
    """
    import cv2

    u = rng.uniform
    h, w = photo.image.shape[:2]
    x1, y1, x2, y2 = photo.box
    bw, bh = x2 - x1, y2 - y1
    ctr = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    roll = math.radians(u(-15, 15)) * jitter
    sx = 1 + u(-0.1, 0.06) * jitter
    c, s = math.cos(roll), math.sin(roll)
    lin = np.array([[c, -s], [s, c]]) @ np.diag([sx, 1.0])
    a = np.hstack([lin, (ctr - lin @ ctr)[:, None]])  # about the face centre: picture stays put
    eyes = np.array(photo.eyes, np.float64) @ a[:, :2].T + a[:, 2]
    side = max(bw, bh)
    k_hi, sig_c, sig_e = (0.15, (0.07, 0.13), 0.06) if wide else (0.12, (0.06, 0.1), 0.04)
    k = 1 + u(-0.25, k_hi) * jitter  # BlazeFace boxes are 0.8-1.0 x the tight box's longer side
    nc = ctr + rng.normal(0, 1, 2) * np.array(sig_c) * side * jitter  # detectors differ most in y
    box = (nc[0] - bw * k / 2, nc[1] - bh * k / 2, nc[0] + bw * k / 2, nc[1] + bh * k / 2)
    eyes = eyes + rng.normal(0, sig_e * side * jitter, (2, 2))  # BlazeFace eyes: off by up to ~0.14
    use_eyes = rng.uniform() >= 0.15 * jitter
    eye_arg = ((eyes[0, 0], eyes[0, 1]), (eyes[1, 0], eyes[1, 1])) if use_eyes else None
    m = crop_matrix(box, size, w, h, margin=MARGIN, eyes=eye_arg)
    full = m @ np.vstack([a, [0.0, 0.0, 1.0]])
    return cv2.warpAffine(
        photo.image, full, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def damage(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric augmentation of a uint8 RGB crop: colour, gamma, light, blur, resolution, noise,
    JPEG, occlusion, grayscale and horizontal flip (each with its own probability)."""
    import cv2

    u = rng.uniform
    n = img.shape[0]
    x = img.astype(np.float32)
    if u() < 0.12:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * u(0.5, 1.5)  # saturation
    x = (x - 128) * u(0.65, 1.35) + 128 + u(-30, 30)  # contrast, brightness
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)  # white balance
    if u() < 0.4:
        ang, strength = u(0, 2 * np.pi), u(0.1, 0.5)
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5
        x = x * (1 + strength * (xx * math.cos(ang) + yy * math.sin(ang)))[..., None]
    x = 255 * (np.clip(x, 0, 255) / 255) ** u(0.65, 1.5)
    if u() < 0.3:
        f = u(0.2, 0.7)
        m = max(8, round(n * f))
        x = cv2.resize(
            cv2.resize(x, (m, m), interpolation=cv2.INTER_AREA), (n, n), interpolation=cv2.INTER_LINEAR
        )
    if u() < 0.4:
        x = cv2.GaussianBlur(x, (0, 0), u(0.4, 1.8))
    if u() < 0.5:
        x = x + rng.normal(0, u(1, 10), x.shape).astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if u() < 0.35:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED).reshape(out.shape)
    if u() < 0.2:  # occluder (hand, microphone, scarf): a box of flat colour or noise
        ow, oh = round(n * u(0.15, 0.45)), round(n * u(0.1, 0.35))
        ox, oy = int(rng.integers(0, n - ow)), int(rng.integers(0, n - oh))
        if u() < 0.5:
            out[oy : oy + oh, ox : ox + ow] = rng.integers(0, 256, 3, dtype=np.uint8)
        else:
            out[oy : oy + oh, ox : ox + ow] = rng.integers(0, 256, (oh, ow, 3), dtype=np.uint8)
    if u() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------------------------------
# Detector crops: the real photos filmed by a virtual camera, cut where BlazeFace puts the face

FRAME_SIZES = ((478, 540), (640, 360), (640, 480), (512, 512), (960, 540))
SPLIT_SIZES = ((960, 540), (1280, 720), (854, 480))
COMPANIONS = ("astronaut", "grace_hopper", "cameraman", "lfw_00", "lfw_07", "lfw_13")


def _place(
    photo: Photo, rng: np.random.Generator, rect: tuple[int, int, int, int], frac: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The affine that films ``photo``'s face into ``rect`` (x, y, w, h): face height ``frac`` of
    the rect's height, roll up to 8 degrees, anywhere in the middle 60 %; and its true box."""
    u = rng.uniform
    rx, ry, rw, rh = rect
    x1, y1, x2, y2 = photo.box
    ctr = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    s = u(*frac) * rh / (y2 - y1)
    th = math.radians(u(-8, 8))
    a = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    pos = np.array([rx + rw * u(0.2, 0.8), ry + rh * u(0.25, 0.75)])
    m = np.hstack([a, (pos - a @ ctr)[:, None]])
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) @ a.T + m[:, 2]
    return m, np.concatenate([corners.min(0), corners.max(0)])


def _film(photo: Photo, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """One camera-like frame of ``photo``: scale, roll, shift, exposure/gamma/tint, blur.

    Like samples/make_samples.py's virtual camera (not its clips). Half the frames show the face
    alone (face 18-50 % of the frame height); half are split-screen calls, 16:9 frames with
    another person filmed into the other half (face 20-42 % of the height), where BlazeFace's
    boxes and eyes are least accurate (the face is ~20 px in its 128 px input).
    Returns the frame and the face's true box in it (the rotated tight box's bounds).
    """
    import cv2

    u = rng.uniform
    flags = {"flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REFLECT_101}
    if u() < 0.5:
        w, h = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        m, truth = _place(photo, rng, (0, 0, w, h), (0.18, 0.5))
        frame = cv2.warpAffine(photo.image, m, (w, h), **flags)
    else:
        w, h = SPLIT_SIZES[int(rng.integers(len(SPLIT_SIZES)))]
        half, gap = w // 2 - 2, 4
        side = int(rng.integers(2))
        rects = [(0, 0, half, h), (half + gap, 0, w - half - gap, h)]
        frame = np.zeros((h, w, 3), np.uint8)
        other = real_photo(COMPANIONS[int(rng.integers(len(COMPANIONS)))])
        for j, (pic, rect) in enumerate(((photo, rects[side]), (other, rects[1 - side]))):
            m, box = _place(pic, rng, rect, (0.2, 0.42))
            rx, ry, rw, rh = rect
            m2 = m - np.array([[0, 0, rx], [0, 0, ry]])
            frame[ry : ry + rh, rx : rx + rw] = cv2.warpAffine(pic.image, m2, (rw, rh), **flags)
            if j == 0:
                truth = box
    levels = np.arange(256, dtype=np.float32) / 255
    gain, gamma = u(0.8, 1.2), u(0.85, 1.2)
    lut = np.stack([255 * gain * u(0.94, 1.06) * levels**gamma for _ in range(3)], axis=-1)
    lut = np.clip(np.round(lut), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    frame = cv2.LUT(frame, lut)
    if u() < 0.5:
        frame = cv2.GaussianBlur(frame, (0, 0), u(0.3, 1.2))  # sensor noise: damage() adds it later
    return frame, tuple(float(v) for v in truth)  # type: ignore[return-value]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def detector_crops(photo: Photo, count: int, rng: np.random.Generator, detector) -> np.ndarray:  # noqa: ANN001
    """``count`` crops of ``photo``'s face cut exactly as the runtime cuts them.

    Each one: a fresh camera frame (:func:`_film`), the ``streamer.faces.detect.FaceDetector``
    run on it, the detection overlapping the true face (IoU >= 0.3) cut by
    ``aligned_crop(frame, box, 112, margin=0.25, eyes=eyes_of(keypoints))`` (what
    ``streamer.faces.embed.Embedder`` does). Frames where the face is missed are redrawn (at most
    ``4 * count`` frames); returns uint8 [<= count, 112, 112, 3].
    """
    from streamer.geometry import aligned_crop, eyes_of

    out: list[np.ndarray] = []
    for _ in range(4 * count):
        if len(out) == count:
            break
        frame, truth = _film(photo, rng)
        faces = [f for f in detector.detect(frame) if _iou(f.box, truth) >= 0.3]
        if faces:
            f = max(faces, key=lambda f: _iou(f.box, truth))
            out.append(aligned_crop(frame, f.box, SIZE, margin=MARGIN, eyes=eyes_of(f.keypoints))[0])
    return np.stack(out) if out else np.zeros((0, SIZE, SIZE, 3), np.uint8)


# --------------------------------------------------------------------------------------------------
# The data set


class FaceData:
    """Training and held-out identities, and their samples as pure functions of ``(seed, identity, i)``.

    Held out (never trained on): ``n_heldout`` synthetic identities and the last ``lfw_heldout``
    faces of ``lfw_subset``. Trained on: ``n_synthetic`` synthetic identities, the other LFW
    faces, the cameraman, and (``with_samples``) the astronaut and Grace Hopper, the two people of
    the sample clips.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        n_synthetic: int = 4000,
        n_heldout: int = 300,
        lfw_heldout: int = 30,
        with_samples: bool = True,
    ) -> None:
        self.seed = seed
        real = ["cameraman"] + [f"lfw_{i:02d}" for i in range(100 - lfw_heldout)]
        if with_samples:
            real = ["astronaut", "grace_hopper", *real]
        self.train_real = [Identity("real", name, i) for i, name in enumerate(real)]
        self.train_synthetic = [Identity("synthetic", f"syn_{i}", i) for i in range(n_synthetic)]
        self.heldout = [
            Identity("synthetic", f"syn_{i}", i) for i in range(n_synthetic, n_synthetic + n_heldout)
        ] + [Identity("real", f"lfw_{i:02d}", 1000 + i) for i in range(100 - lfw_heldout, 100)]
        self.train = self.train_real + self.train_synthetic
        self._heldout_keys = {(i.kind, i.name) for i in self.heldout}
        self.pools: dict[str, np.ndarray] = {}
        self.pool_share = 0.0

    def build_pools(
        self,
        per_identity: int,
        *,
        share: float = 0.5,
        per_small: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """Precompute detector crops (:func:`detector_crops`) of every *training* real identity.

        ``per_identity`` crops each (``per_small`` for the 100 x 100 LFW faces, default the same);
        afterwards a training sample of a real identity is one of them (then photometric damage)
        with probability ``share``. Needs MediaPipe and the BlazeFace model (the runtime's
        detector, default parameters); deterministic for a seed.
        """
        import time

        from streamer.faces.detect import FaceDetector

        t0 = time.monotonic()
        with FaceDetector() as det:
            for ident in self.train_real:
                n = per_identity if not ident.name.startswith("lfw_") else (per_small or per_identity)
                rng = np.random.default_rng([self.seed, 5, ident.index])
                self.pools[ident.name] = detector_crops(real_photo(ident.name), n, rng, det)
        self.pool_share = share
        if log:
            sizes = [len(v) for v in self.pools.values()]
            log(
                f"detector crops: {sum(sizes)} for {len(sizes)} real identities "
                f"({min(sizes)}-{max(sizes)} each) in {time.monotonic() - t0:.0f} s"
            )

    def sample(self, ident: Identity, i: int) -> np.ndarray:
        """Sample ``i`` of ``ident``: a uint8 [112, 112, 3] RGB aligned and damaged crop."""
        key = 0 if ident.kind == "real" else 1
        rng = np.random.default_rng([self.seed, 2, key, ident.index, i])
        training = (ident.kind, ident.name) not in self._heldout_keys
        pool = self.pools.get(ident.name) if ident.kind == "real" and training else None
        if pool is not None and len(pool) and rng.uniform() < self.pool_share:
            return damage(pool[int(rng.integers(len(pool)))], rng)
        if ident.kind == "real":
            photo = real_photo(ident.name)
        else:
            photo = draw_synthetic(traits(self.seed, ident.index), rng)
        return damage(view(photo, rng, wide=training), rng)

    def batch(self, idents: Sequence[Identity], k: int, start: int = 0) -> np.ndarray:
        """``k`` samples (indices ``start..start+k-1``) of each identity: uint8 [len * k, 112, 112, 3]."""
        return np.stack([self.sample(ident, start + j) for ident in idents for j in range(k)])


# --------------------------------------------------------------------------------------------------
# Crops from the sample clips (runtime sanity check)


def photo_crop(photo: Photo) -> np.ndarray:
    """The plain aligned crop (margin 0.25, eyes level) of a photo's measured face, as at enrolment."""
    from streamer.geometry import aligned_crop

    return aligned_crop(photo.image, photo.box, SIZE, margin=MARGIN, eyes=photo.eyes)[0]


def clip_crops(stem: str, person: str, count: int, *, samples: Path = SAMPLES) -> list[np.ndarray]:
    """Aligned 112 crops of ``person`` in ``count`` frames spread over ``samples/<stem>.mp4``, cut
    with the true box and eyes of ``<stem>.faces.json`` by ``streamer.geometry.aligned_crop``."""
    import json

    import av

    from streamer.geometry import aligned_crop

    truth = json.loads((samples / f"{stem}.faces.json").read_text())["frames"]
    frames_with = [f["frame"] for f in truth if any(x["person"] == person for x in f["faces"])]
    if not frames_with:
        raise ValueError(f"{person!r} is in no frame of {stem}: see {stem}.faces.json")
    step = max(1, len(frames_with) // count)
    wanted = set(frames_with[::step][:count])
    by_frame = {f["frame"]: f["faces"] for f in truth}
    crops = []
    with av.open(str(samples / f"{stem}.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                face = next(x for x in by_frame[i] if x["person"] == person)
                img = frame.to_ndarray(format="rgb24")
                eyes = (tuple(face["eyes"][0]), tuple(face["eyes"][1]))
                crops.append(aligned_crop(img, face["box"], SIZE, margin=MARGIN, eyes=eyes)[0])
            if len(crops) == len(wanted):
                break
    return crops
