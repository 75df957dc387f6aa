"""Rendered (CG) heads: real-class training pictures for the deepfake detector.

Why: animated and computer-rendered characters are not manipulations, yet a detector that has
only seen camera photos and flat drawings reads their smooth shading, soft fur and uniform
texture as "something is off" (the first models called Big Buck Bunny's rabbit fake). These
heads are ray-cast ellipsoids (head, snout or nose, eyes with iris and pupil, ears, body) with
Lambert and Blinn-Phong shading, optional cel shading, fur-like albedo noise and a blurred
background cut from the photos that ship with scikit-image, rendered at twice the size and
scaled down (anti-aliasing). Human-like, animal (tall ears, snout) and toon (big eyes)
characters, turned left or right. A picture is a pure function of its ``rng``.

``render_head(rng)`` returns a ``Photo`` (picture, tight face box, eye centres) like the real
photos of ``export.data.faces``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from export.data.faces import Photo

CANVAS = 256
SUPER = 2  # rendered at this multiple of CANVAS, then scaled down
# pictures inside scikit-image's own data folder (no download)
BACKGROUNDS = (
    "grass.png",
    "gravel.png",
    "brick.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
)


@dataclass
class _Ellipsoid:
    centre: np.ndarray  # x, y, z (z towards the camera)
    radii: np.ndarray
    albedo: np.ndarray  # RGB 0..1
    fur: float = 0.0  # strength of the albedo noise
    part: str = ""


@cache
def _background_images() -> tuple[np.ndarray, ...]:
    from pathlib import Path

    import skimage
    from skimage import io

    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in BACKGROUNDS:
        img = io.imread(folder / name)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, 2)
        out.append(np.ascontiguousarray(img[..., :3]))
    return tuple(out)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    import cv2

    if rng.uniform() < 0.3:  # a sky-like gradient
        top, bottom = rng.uniform(0.2, 1.0, 3), rng.uniform(0.0, 0.8, 3)
        t = np.linspace(0, 1, size)[:, None, None]
        return np.broadcast_to(top * (1 - t) + bottom * t, (size, size, 3)).astype(np.float32)
    imgs = _background_images()
    img = imgs[int(rng.integers(len(imgs)))]
    h, w = img.shape[:2]
    side = int(rng.uniform(0.4, 1.0) * min(h, w))
    y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    bg = cv2.resize(img[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
    bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1.0, 10.0))  # depth of field
    tint = rng.uniform(0.6, 1.3, 3)
    return np.clip(bg.astype(np.float32) / 255.0 * tint, 0, 1)


def _on_surface(e: _Ellipsoid, theta: float, phi: float, out: float = 1.0) -> np.ndarray:
    """The point of ``e`` at longitude ``theta`` (0 faces the camera, + to the right) and latitude
    ``phi`` (+ up), pushed ``out`` times its radius from the centre."""
    d = np.array([math.sin(theta) * math.cos(phi), -math.sin(phi), math.cos(theta) * math.cos(phi)])
    return e.centre + out * e.radii * d


def _fur(rng: np.random.Generator, size: int) -> np.ndarray:
    """Albedo noise: blotches plus fine streaks (zero mean, about unit spread)."""
    import cv2

    coarse = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), size / 40)
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0, sigmaY=3.0)
    n = coarse / (coarse.std() + 1e-6) * 0.5 + fine / (fine.std() + 1e-6) * 0.5
    return n


def _character(rng: np.random.Generator, s: float) -> tuple[list[_Ellipsoid], dict]:
    kind = ("human", "animal", "toon")[int(rng.choice(3, p=(0.3, 0.4, 0.3)))]
    cx, cy = s * 0.5 + rng.uniform(-0.06, 0.06) * s, s * 0.5 + rng.uniform(-0.04, 0.08) * s
    rh = s * rng.uniform(0.2, 0.3)
    skin = (
        rng.uniform([0.35, 0.2, 0.12], [0.95, 0.8, 0.7])
        if kind != "animal"
        else np.clip(rng.uniform(0.25, 0.9) * rng.uniform(0.8, 1.2, 3), 0, 1)
    )
    head = _Ellipsoid(
        np.array([cx, cy, 0.0]),
        np.array([rh, rh * rng.uniform(0.95, 1.3), rh * rng.uniform(0.8, 1.05)]),
        skin,
        fur=rng.uniform(0.0, 0.25) if kind == "animal" else rng.uniform(0.0, 0.06),
        part="head",
    )
    yaw = rng.uniform(-0.45, 0.45)
    parts = [head]
    body = _Ellipsoid(
        np.array([cx, cy + head.radii[1] * rng.uniform(1.5, 1.9), -rh * 0.6]),
        np.array([rh * rng.uniform(1.2, 1.8), rh * rng.uniform(1.0, 1.4), rh]),
        skin if kind == "animal" else rng.uniform(0.05, 0.9, 3),
        fur=head.fur,
        part="body",
    )
    parts.append(body)
    # eyes: spheres half sunk into the head
    eye_r = rh * (rng.uniform(0.22, 0.34) if kind == "toon" else rng.uniform(0.1, 0.17))
    spread, lift = rng.uniform(0.3, 0.5), rng.uniform(0.05, 0.3)
    iris = rng.uniform(0.0, 0.7, 3)
    eyes = []
    for side in (-1, 1):
        at = _on_surface(head, side * spread + yaw, lift, 1.0 - 0.5 * eye_r / rh)
        radii = np.array([eye_r, eye_r * rng.uniform(0.9, 1.2), eye_r])
        e = _Ellipsoid(at, radii, np.array([0.95, 0.95, 0.92]))
        e.part = "eye"
        parts.append(e)
        eyes.append(e)
    # snout or nose
    snout_r = rh * (rng.uniform(0.3, 0.5) if kind == "animal" else rng.uniform(0.1, 0.18))
    snout = _Ellipsoid(
        _on_surface(head, yaw, -rng.uniform(0.15, 0.35), 1.0 - 0.6 * snout_r / rh),
        np.array([snout_r, snout_r * rng.uniform(0.6, 0.9), snout_r * rng.uniform(0.7, 1.1)]),
        np.clip(skin * rng.uniform(0.9, 1.3), 0, 1),
        fur=head.fur,
        part="snout",
    )
    parts.append(snout)
    if kind == "animal":
        nose_r = snout_r * rng.uniform(0.2, 0.35)
        nose = _Ellipsoid(
            _on_surface(snout, yaw * 0.5, 0.3, 1.0),
            np.array([nose_r * 1.3, nose_r, nose_r]),
            rng.uniform(0.05, 0.6, 3) * np.array([1.0, 0.6, 0.6]),
            part="nose",
        )
        parts.append(nose)
    # ears
    if kind == "animal" or rng.uniform() < 0.3:
        tall = kind == "animal" and rng.uniform() < 0.7
        ear_len = rh * (rng.uniform(0.6, 1.1) if tall else rng.uniform(0.2, 0.35))
        for side in (-1, 1):
            base = _on_surface(head, side * rng.uniform(0.4, 0.9) + yaw * 0.5, 1.0 if tall else 0.1, 0.9)
            if tall:
                centre = base + np.array([side * ear_len * 0.2, -ear_len * 0.85, 0])
                radii = np.array([ear_len * 0.28, ear_len, ear_len * 0.12])
            else:
                centre = base + np.array([side * ear_len * 0.5, 0, -ear_len * 0.5])
                radii = np.array([ear_len * 0.5, ear_len, ear_len * 0.4])
            parts.append(_Ellipsoid(centre, radii, skin, fur=head.fur, part="ear"))
    gaze = np.array([math.sin(yaw + rng.uniform(-0.2, 0.2)), -rng.uniform(-0.15, 0.15), 1.0])
    style = {
        "kind": kind,
        "iris": iris,
        "iris_cos": math.cos(rng.uniform(0.45, 0.8) if kind == "toon" else rng.uniform(0.35, 0.6)),
        "pupil_cos": math.cos(rng.uniform(0.15, 0.3)),
        "gaze": gaze / np.linalg.norm(gaze),
        "mouth": _on_surface(head, yaw, -rng.uniform(0.35, 0.55), 1.0),
        "mouth_w": rh * rng.uniform(0.2, 0.45),
        "eyes": eyes,
        "head": head,
    }
    return parts, style


def render_head(rng: np.random.Generator) -> Photo:
    """One rendered character (module doc): a ``Photo`` of ``CANVAS`` x ``CANVAS`` pixels."""
    import cv2

    big = CANVAS * SUPER
    s = float(big)
    parts, style = _character(rng, s)
    ys, xs = np.mgrid[0:big, 0:big].astype(np.float32) + 0.5
    zbuf = np.full((big, big), -np.inf, np.float32)
    normal = np.zeros((big, big, 3), np.float32)
    albedo = _background(rng, big)
    fur_strength = np.zeros((big, big), np.float32)
    is_bg = np.ones((big, big), bool)
    eye_mask = np.zeros((big, big), bool)
    for e in parts:
        u = (xs - e.centre[0]) / e.radii[0]
        v = (ys - e.centre[1]) / e.radii[1]
        q = 1.0 - u * u - v * v
        inside = q > 0
        if not inside.any():
            continue
        w = np.sqrt(np.where(inside, q, 0.0))
        z = e.centre[2] + e.radii[2] * w
        hit = inside & (z > zbuf)
        zbuf[hit] = z[hit]
        n = np.stack([u / e.radii[0], v / e.radii[1], w / e.radii[2]], -1)
        n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-9
        normal[hit] = n[hit]
        col = np.broadcast_to(e.albedo.astype(np.float32), (big, big, 3)).copy()
        if e.part == "eye":
            cos = n @ style["gaze"].astype(np.float32)
            col[cos > style["iris_cos"]] = style["iris"]
            col[cos > style["pupil_cos"]] = (0.02, 0.02, 0.03)
            eye_mask |= hit
        albedo[hit] = col[hit]
        fur_strength[hit] = e.fur
        is_bg[hit] = False
    fur = _fur(rng, big)
    albedo *= (1.0 + fur_strength * fur)[..., None]
    # mouth: a dark arc on the head
    m = style["mouth"]
    mouth = np.zeros((big, big), np.uint8)
    mw = style["mouth_w"]
    smile = rng.uniform(-0.3, 0.6)
    cv2.ellipse(
        mouth,
        (int(m[0]), int(m[1] - smile * mw * 0.5)),
        (int(mw), int(max(2, abs(smile) * mw))),
        0,
        0 if smile >= 0 else 180,
        180 if smile >= 0 else 360,
        255,
        max(2, int(mw * rng.uniform(0.06, 0.15))),
        cv2.LINE_AA,
    )
    mouth_a = (mouth.astype(np.float32) / 255.0 * (~is_bg & ~eye_mask))[..., None]
    albedo = albedo * (1 - mouth_a) + mouth_a * rng.uniform(0.05, 0.35, 3).astype(np.float32)
    # shading
    light = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.9, 0.1), rng.uniform(0.4, 1.0)], np.float32)
    light /= np.linalg.norm(light)
    ndl = np.clip(normal @ light, 0, 1)
    if style["kind"] == "toon" and rng.uniform() < 0.6:  # cel shading
        levels = int(rng.integers(2, 4))
        ndl = np.floor(ndl * levels + 0.5) / levels
    half = light + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    spec = np.clip(normal @ half, 0, 1) ** rng.uniform(8, 60) * rng.uniform(0.0, 0.5)
    rim = (1 - np.clip(normal[..., 2], 0, 1)) ** 3 * rng.uniform(0.0, 0.5)
    ambient = rng.uniform(0.2, 0.45)
    shade = ambient + (1 - ambient) * ndl
    lit = albedo * shade[..., None] + (spec + rim)[..., None] * rng.uniform(0.7, 1.0, 3).astype(np.float32)
    lit = np.where(is_bg[..., None], albedo, lit)
    img = cv2.resize(np.clip(lit, 0, 1), (CANVAS, CANVAS), interpolation=cv2.INTER_AREA)
    img = (img * 255 + 0.5).astype(np.uint8)
    head = style["head"]
    eyes = sorted((float(e.centre[0]) / SUPER, float(e.centre[1]) / SUPER) for e in style["eyes"])
    hx, hy = head.centre[0] / SUPER, head.centre[1] / SUPER
    rx, ry = head.radii[0] / SUPER, head.radii[1] / SUPER
    box = (hx - 0.85 * rx, min(eyes[0][1], eyes[1][1]) - 0.45 * rx, hx + 0.85 * rx, hy + 0.9 * ry)
    return Photo(np.ascontiguousarray(img), box, (eyes[0], eyes[1]))
