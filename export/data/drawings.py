"""Unpaired face data for the ``face_drawing`` CycleGAN: real face photos (A) and drawings (B).

Why unpaired and why drawings made by filters: no face-drawing data set can be downloaded here,
and a CycleGAN needs none that is paired. Domain B is made by three classical filters (pencil
sketch, XDoG line art, cartoon) applied to photos of *other* people than those of domain A, so
the network never sees a photo together with its own drawing and has to learn the translation
between the two distributions, not a filter.

The split (every real face photo that ships with an installed package; nothing is downloaded):

- **A (photos), trained**: scikit-image's astronaut (the photo and ``A_CLIP_FRAMES`` frames of
  ``samples/one_face.mp4``, cut with the true boxes of ``one_face.faces.json``) and LFW faces
  ``lfw_00..lfw_34`` of ``skimage.data.lfw_subset``.
- **B (drawings), trained**: matplotlib's Grace Hopper (the photo and frames of
  ``samples/face_audio.mp4``), scikit-image's cameraman and LFW faces ``lfw_35..lfw_69``.
- **held out** (never trained on, in either domain): LFW ``lfw_70..lfw_84`` as photos and
  ``lfw_85..lfw_99`` as drawings. ``samples/two_people.mp4`` (the graph tests' clip) is never read.

Every crop goes through the runtime's geometry (``streamer.geometry.crop_matrix``, margin 0.25,
eyes level) with detector-like noise, via ``export.data.faces.view``. A sample is a pure function
of ``(seed, domain, index)``.

Example::

    data = DrawingData(seed=0)
    a = data.batch("A", start=0, count=4, size=128)   # uint8 [4, 128, 128, 3] photos
    b = data.batch("B", start=0, count=4, size=128)   # drawings of other people
    sketch = draw(a[0], "xdog")
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from export.data.faces import Photo, real_photo, view

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"

STYLES = ("pencil", "xdog", "cartoon")
#: LFW indices per role (``skimage.data.lfw_subset()[:100]`` are faces).
LFW_A = tuple(range(0, 35))
LFW_B = tuple(range(35, 70))
LFW_HELDOUT_A = tuple(range(70, 85))
LFW_HELDOUT_B = tuple(range(85, 100))
#: Frames taken from each sample clip (spread evenly over the clip).
A_CLIP_FRAMES = 12
#: Fraction of samples drawn from the colour photos (the rest are LFW faces, grey and small).
COLOUR_SHARE = 0.5


# --------------------------------------------------------------------------------------------------
# The drawing filters: uint8 RGB in, uint8 RGB out, deterministic


def _gray01(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / np.float32(255.0)


def pencil(
    rgb: np.ndarray, *, sigma_s: float = 20.0, sigma_r: float = 0.08, shade: float = 0.03
) -> np.ndarray:
    """OpenCV's ``pencilSketch`` (domain-transform edges over a paper shade), grey, as RGB."""
    import cv2

    gray, _ = cv2.pencilSketch(
        np.ascontiguousarray(rgb[..., ::-1]), sigma_s=sigma_s, sigma_r=sigma_r, shade_factor=shade
    )
    return np.repeat(gray[..., None], 3, axis=2)


def xdog(
    rgb: np.ndarray,
    *,
    sigma: float = 0.9,
    k: float = 1.6,
    p: float = 20.0,
    eps: float = 0.3,
    phi: float = 12.0,
) -> np.ndarray:
    """Extended difference of Gaussians (Winnemöller et al. 2012): black ink lines on white, as RGB.

    ``D = (1 + p) G_sigma - p G_{k sigma}`` on luminance stretched to 0..1 (2nd..98th percentile,
    so dark photos do not turn black); white where ``D >= eps``, a soft ``1 + tanh(phi (D - eps))``
    ramp to black below it.
    """
    import cv2

    g = _gray01(rgb)
    lo, hi = np.percentile(g, (2, 98))
    g = np.clip((g - lo) / max(float(hi - lo), 0.05), 0.0, 1.0).astype(np.float32)
    d = (1 + p) * cv2.GaussianBlur(g, (0, 0), sigma) - p * cv2.GaussianBlur(g, (0, 0), k * sigma)
    out = np.where(d >= eps, np.float32(1.0), 1.0 + np.tanh(phi * (d - eps))).astype(np.float32)
    g8 = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(g8[..., None], 3, axis=2)


def cartoon(rgb: np.ndarray, *, levels: int = 6, passes: int = 2, edge_block: int = 9) -> np.ndarray:
    """Bilateral smoothing, colour quantisation to ``levels`` per channel, dark adaptive-threshold edges."""
    import cv2

    x = np.ascontiguousarray(rgb)
    for _ in range(passes):
        x = cv2.bilateralFilter(x, 7, 40.0, 5.0)
    step = 256.0 / levels
    q = (np.floor(x.astype(np.float32) / step) * step + step / 2).astype(np.float32)
    gray = cv2.medianBlur(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), 7)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, edge_block, 5)
    out = q * (edges[..., None].astype(np.float32) / 255.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw(rgb: np.ndarray, style: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """``rgb`` drawn in ``style`` (one of ``STYLES``); with ``rng`` the filter's parameters vary a little."""
    u = rng.uniform if rng is not None else (lambda lo, hi: (lo + hi) / 2)
    if style == "pencil":
        return pencil(rgb, sigma_s=u(12.0, 30.0), sigma_r=u(0.06, 0.1), shade=u(0.01, 0.05))
    if style == "xdog":
        return xdog(rgb, sigma=u(0.7, 1.1), p=u(15.0, 25.0), eps=u(0.2, 0.4), phi=u(8.0, 16.0))
    if style == "cartoon":
        return cartoon(rgb, levels=int(round(u(4.5, 7.49))), edge_block=2 * int(round(u(3.5, 5.49))) + 1)
    raise ValueError(f"unknown drawing style {style!r}: expected one of {', '.join(STYLES)}")


# --------------------------------------------------------------------------------------------------
# Photos and augmentation


@cache
def clip_photos(stem: str, person: str, count: int) -> tuple[Photo, ...]:
    """``count`` frames spread over ``samples/<stem>.mp4`` as photos, with the true box and eyes
    of ``person`` from ``<stem>.faces.json``."""
    import av

    truth = json.loads((SAMPLES / f"{stem}.faces.json").read_text())["frames"]
    with_person = [f for f in truth if any(x["person"] == person for x in f["faces"])]
    if not with_person:
        raise ValueError(f"{person!r} is in no frame of {stem}: see samples/{stem}.faces.json")
    step = max(1, len(with_person) // count)
    wanted = {
        f["frame"]: next(x for x in f["faces"] if x["person"] == person) for f in with_person[::step][:count]
    }
    photos = []
    with av.open(str(SAMPLES / f"{stem}.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                face = wanted[i]
                eyes = (tuple(face["eyes"][0]), tuple(face["eyes"][1]))
                photos.append(Photo(frame.to_ndarray(format="rgb24"), tuple(face["box"]), eyes))  # type: ignore[arg-type]
            if len(photos) == len(wanted):
                break
    return tuple(photos)


def colour_jitter(img: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0) -> np.ndarray:
    """Photometric augmentation of a uint8 RGB crop: saturation, contrast, brightness, white balance,
    gamma, a light gradient, slight blur and a horizontal flip (each drawn from ``rng``)."""
    import cv2

    u = rng.uniform
    s = strength
    n = img.shape[0]
    x = img.astype(np.float32)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * u(1 - 0.4 * s, 1 + 0.4 * s)
    x = (x - 128) * u(1 - 0.25 * s, 1 + 0.25 * s) + 128 + u(-20, 20) * s
    x = x * (1 + rng.uniform(-0.1, 0.1, 3) * s).astype(np.float32)
    if u() < 0.3 * s:
        ang, k = u(0, 2 * math.pi), u(0.05, 0.3) * s
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5
        x = x * (1 + k * (xx * math.cos(ang) + yy * math.sin(ang)))[..., None]
    x = 255 * (np.clip(x, 0, 255) / 255) ** u(1 - 0.25 * s, 1 + 0.3 * s)
    if u() < 0.2 * s:
        x = cv2.GaussianBlur(x, (0, 0), u(0.3, 1.0))
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if u() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class Source:
    """A named group of photos of one domain, sampled with ``weight``."""

    name: str
    photos: tuple[Photo, ...]
    weight: float


def _lfw(indices: Sequence[int]) -> tuple[Photo, ...]:
    return tuple(real_photo(f"lfw_{i:02d}") for i in indices)


def domain_sources(domain: str) -> list[Source]:
    """The training photos of ``domain`` ("A" photos or "B" drawings), see the module docstring."""
    if domain == "A":
        colour = (real_photo("astronaut"), *clip_photos("one_face", "astronaut", A_CLIP_FRAMES))
        return [Source("astronaut", colour, COLOUR_SHARE), Source("lfw A", _lfw(LFW_A), 1 - COLOUR_SHARE)]
    if domain == "B":
        colour = (real_photo("grace_hopper"), *clip_photos("face_audio", "grace_hopper", A_CLIP_FRAMES))
        return [
            Source("grace_hopper", colour, COLOUR_SHARE * 0.85),
            Source("cameraman", (real_photo("cameraman"),), COLOUR_SHARE * 0.15),
            Source("lfw B", _lfw(LFW_B), 1 - COLOUR_SHARE),
        ]
    raise ValueError(f"unknown domain {domain!r}: expected 'A' (photos) or 'B' (drawings)")


def heldout_photos(domain: str) -> tuple[Photo, ...]:
    """Held-out LFW photos: ``A`` ones are evaluated as photos, ``B`` ones as drawings."""
    return _lfw(LFW_HELDOUT_A if domain == "A" else LFW_HELDOUT_B)


def plain_crop(photo: Photo, size: int) -> np.ndarray:
    """The runtime's aligned crop (margin 0.25, eyes level) of a photo's face, without any noise."""
    return view(photo, np.random.default_rng(0), size=size, jitter=0.0)


class DrawingData:
    """Training samples of both domains as pure functions of ``(seed, domain, index)``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.sources = {d: domain_sources(d) for d in ("A", "B")}

    def sample(self, domain: str, i: int, size: int) -> np.ndarray:
        """Sample ``i`` of ``domain``: a uint8 ``[size, size, 3]`` photo (A) or drawing (B)."""
        rng = np.random.default_rng([self.seed, 7, ord(domain), i])
        sources = self.sources[domain]
        weights = np.array([s.weight for s in sources])
        src = sources[int(rng.choice(len(sources), p=weights / weights.sum()))]
        photo = src.photos[int(rng.integers(len(src.photos)))]
        crop = view(photo, rng, size=size, jitter=1.0)
        if domain == "A":
            return colour_jitter(crop, rng, strength=1.0)
        crop = colour_jitter(crop, rng, strength=0.5)
        return draw(crop, STYLES[int(rng.integers(len(STYLES)))], rng)

    def batch(self, domain: str, *, start: int, count: int, size: int) -> np.ndarray:
        """Samples ``start .. start+count-1`` of ``domain``: uint8 ``[count, size, size, 3]``."""
        return np.stack([self.sample(domain, start + j, size) for j in range(count)])


def heldout_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out evaluation crops: (A photos, B drawings), each style once per B face, uint8 NHWC."""
    a = np.stack([plain_crop(p, size) for p in heldout_photos("A")])
    b = np.stack(
        [draw(plain_crop(p, size), STYLES[i % len(STYLES)]) for i, p in enumerate(heldout_photos("B"))]
    )
    return a, b
