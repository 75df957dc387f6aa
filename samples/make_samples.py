"""Make the sample clips in samples/ deterministically, with the true face boxes of every frame.

Why: tests, graphs and benchmarks need short clips of real faces whose face positions are known
exactly, without downloading anything. The clips are built from real photos that ship inside
installed packages (scikit-image's astronaut and coffee, matplotlib's grace_hopper.jpg), filmed by
a virtual hand-held camera: slow pan, zoom in/out, a few degrees of roll, small shake, lighting
drift (gain, gamma, white balance), vignetting and sensor noise. Because we place every photo
ourselves, the face box and eye centres of each frame are the photo's hand-measured box mapped
through that frame's exact transform; they are written to ``<stem>.faces.json`` next to the clip.

Usage (from the repository root)::

    python samples/make_samples.py              # writes samples/*.mp4 and samples/*.faces.json
    python samples/make_samples.py --out /tmp/s # somewhere else
    python samples/make_samples.py --check      # also score the truth with OpenCV's LBP face cascade

Everything is seeded and the encoder runs single-threaded (libx264 ``threads=1``), so a rerun
decodes to the same pixels. This is a dev tool, not part of the ``streamer`` package; it needs
scikit-image and matplotlib (dev dependencies).

Coordinates: boxes ``[x1, y1, x2, y2]`` and points are continuous pixel coordinates where pixel
``(i, j)`` covers ``[i, i+1) x [j, j+1)``, i.e. a box ``[0, 0, W, H]`` is the whole frame.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FPS = 30
AUDIO_RATE = 48_000
MAX_BYTES = 2_000_000


# --------------------------------------------------------------------------------------------------
# Source photos and their hand-measured faces


@dataclass(frozen=True)
class Face:
    """A face in a source photo: tight box (brow/forehead to chin, cheek to cheek) and eye centres.

    Measured by hand on zoomed crops with a pixel grid and cross-checked against OpenCV's LBP
    frontal-face cascade (IoU 0.66 for the astronaut, 0.73 for Grace Hopper). ``eyes`` lists the
    eye on the image's left first.
    """

    person: str
    box: tuple[float, float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]]


ASTRONAUT_FACE = Face("astronaut", (181.0, 78.0, 271.0, 189.0), ((203.5, 101.5), (246.5, 103.5)))
HOPPER_FACE = Face("grace_hopper", (165.0, 140.0, 357.0, 331.0), ((221.5, 188.0), (305.0, 187.0)))


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    import matplotlib.pyplot as plt

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.ascontiguousarray(plt.imread(f, format="jpg")[..., :3])


def _coffee() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.coffee())


def pillarbox(photo: np.ndarray, width: int, *, blur_sigma: float = 24.0) -> tuple[np.ndarray, float]:
    """Put a portrait photo on a wider canvas whose sides are a blurred, enlarged, darker copy.

    This is how portrait phone videos are shown in landscape. The enlarged copy is centred on the
    photo, so its (blurred) face stays hidden behind the sharp photo and no second face appears.
    Returns the canvas and the x offset of the photo in it.
    """
    h, w = photo.shape[:2]
    k = width / w
    big = cv2.resize(photo, (width, round(h * k)), interpolation=cv2.INTER_AREA)
    top = (big.shape[0] - h) // 2
    fill = cv2.GaussianBlur(big[top : top + h], (0, 0), blur_sigma)
    canvas = (fill.astype(np.float32) * 0.55).astype(np.uint8)
    x0 = (width - w) // 2
    # feather the photo's vertical edges over a few pixels so the seam is soft like a real fill
    alpha = np.ones(w, np.float32)
    ramp = np.linspace(0.0, 1.0, 8, dtype=np.float32)
    alpha[:8], alpha[-8:] = ramp, ramp[::-1]
    region = canvas[:, x0 : x0 + w].astype(np.float32)
    region = region * (1 - alpha[None, :, None]) + photo.astype(np.float32) * alpha[None, :, None]
    canvas[:, x0 : x0 + w] = np.round(region).astype(np.uint8)
    return canvas, float(x0)


# --------------------------------------------------------------------------------------------------
# Virtual camera


@dataclass(frozen=True)
class Camera:
    """A hand-held camera looking at a flat world image (world pixels -> output pixels).

    At time t the camera looks at world point ``center + pan(t)`` with magnification
    ``scale * (1 + zoom(t))`` and roll ``roll(t)``; shake adds a few output pixels of jitter.
    """

    center: tuple[float, float]
    scale: float
    pan: tuple[float, float]  # world px: linear drift from -pan to +pan plus a slow sway
    zoom: float  # relative: zooms in by this much and back out
    roll_deg: float  # peak roll, <= 5 degrees
    shake_px: float
    seed: int


def camera_matrices(cam: Camera, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Return one 2x3 affine per frame mapping world to output pixel coordinates (edge convention)."""
    rng = np.random.default_rng(cam.seed)
    ph = rng.uniform(0, 2 * math.pi, 8)
    shake_f = rng.uniform(1.3, 3.7, 4)  # Hz
    w, h = size
    out = []
    for i in range(n):
        t = i / FPS
        u = i / max(n - 1, 1)  # 0..1 over the clip
        ease = 0.5 - 0.5 * math.cos(math.pi * u)  # smooth start and stop
        px = cam.pan[0] * (2 * ease - 1) + 0.25 * cam.pan[0] * math.sin(2 * math.pi * 0.4 * t + ph[0])
        py = cam.pan[1] * (2 * ease - 1) * 0.5 + 0.5 * cam.pan[1] * math.sin(2 * math.pi * 0.3 * t + ph[1])
        s = cam.scale * (1 + cam.zoom * math.sin(math.pi * u) ** 2)
        theta = math.radians(cam.roll_deg) * math.sin(2 * math.pi * 0.35 * t + ph[2])
        sx = (
            cam.shake_px
            * (
                math.sin(2 * math.pi * shake_f[0] * t + ph[3])
                + math.sin(2 * math.pi * shake_f[1] * t + ph[4])
            )
            / 2
        )
        sy = (
            cam.shake_px
            * (
                math.sin(2 * math.pi * shake_f[2] * t + ph[5])
                + math.sin(2 * math.pi * shake_f[3] * t + ph[6])
            )
            / 2
        )
        c, si = math.cos(theta), math.sin(theta)
        a = s * np.array([[c, -si], [si, c]])
        ctr = np.array([cam.center[0] + px, cam.center[1] + py])
        b = np.array([w / 2 + sx, h / 2 + sy]) - a @ ctr
        out.append(np.hstack([a, b[:, None]]))
    return out


def warp(world: np.ndarray, m_edge: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Render the camera view: OpenCV's warpAffine works in pixel-centre coordinates, so shift."""
    a, b = m_edge[:, :2], m_edge[:, 2]
    m_centre = np.hstack([a, (b + a @ np.array([0.5, 0.5]) - 0.5)[:, None]])
    return cv2.warpAffine(world, m_centre, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map Nx2 points through a 2x3 affine."""
    return pts @ m[:, :2].T + m[:, 2]


# --------------------------------------------------------------------------------------------------
# Sensor: lighting drift, vignette, noise


@dataclass(frozen=True)
class Sensor:
    gain: float = 0.12  # peak relative exposure change
    gamma: float = 0.10  # peak gamma change
    tint: float = 0.03  # peak white-balance drift per channel
    vignette: float = 0.18  # darkening at the corners
    noise: float = 2.0  # sensor noise sigma, 8-bit levels
    seed: int = 0


class SensorModel:
    """Per-frame photometric changes; deterministic given the seed."""

    def __init__(self, s: Sensor, size: tuple[int, int], n: int) -> None:
        self.s, self.n = s, n
        self.rng = np.random.default_rng(s.seed)
        self.ph = self.rng.uniform(0, 2 * math.pi, 5)
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        self.vig = (1 - s.vignette * r2 / 2)[..., None].astype(np.float32)
        self.levels = np.arange(256, dtype=np.float32) / 255

    def __call__(self, img: np.ndarray, i: int) -> np.ndarray:
        s, t, ph = self.s, i / FPS, self.ph
        gain = 1 + s.gain * math.sin(2 * math.pi * 0.22 * t + ph[0])
        gamma = 1 + s.gamma * math.sin(2 * math.pi * 0.17 * t + ph[1])
        tint = [1 + s.tint * math.sin(2 * math.pi * 0.13 * t + ph[2 + c]) for c in range(3)]
        lut = np.stack([255 * gain * tint[c] * self.levels**gamma for c in range(3)], axis=-1)
        lut = np.clip(np.round(lut), 0, 255).astype(np.uint8).reshape(256, 1, 3)
        out = cv2.LUT(img, lut).astype(np.float32) * self.vig
        out += self.rng.standard_normal(out.shape, dtype=np.float32) * s.noise
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Scenes


@dataclass(frozen=True)
class Shot:
    """One camera filming one world image into a rectangle of the output frame."""

    world: np.ndarray
    faces: Sequence[tuple[Face, float, float, float]]  # face, world scale, world x offset, y offset
    camera: Camera
    rect: tuple[int, int, int, int]  # x, y, w, h in the output frame


@dataclass
class Clip:
    name: str
    size: tuple[int, int]
    seconds: float
    shots: list[Shot]
    sensor: Sensor
    audio: bool = False
    sync_marks: bool = True  # with audio: a white square on the frames at whole seconds
    crf: int = 23
    frames: int = field(init=False)

    def __post_init__(self) -> None:
        self.frames = round(self.seconds * FPS)


def build_clips() -> list[Clip]:
    """Define the four sample clips (the names are used by tests and graphs: keep them)."""
    astronaut, hopper, coffee = _astronaut(), _grace_hopper(), _coffee()
    clips = [
        Clip(
            "one_face.mp4",
            (1280, 720),
            4.0,
            [
                Shot(
                    astronaut,
                    [(ASTRONAUT_FACE, 1.0, 0.0, 0.0)],
                    Camera((244, 205), 2.05, (22, 10), 0.16, 4.0, 1.5, seed=11),
                    (0, 0, 1280, 720),
                )
            ],
            Sensor(seed=12),
            audio=True,  # the 720p clip graphs/file_stylize.yaml stylizes, sound kept
            sync_marks=False,  # the picture stays exactly as the detector/truth tests know it
        ),
        Clip(
            "two_people.mp4",
            (960, 540),
            4.0,
            [
                Shot(
                    astronaut,
                    [(ASTRONAUT_FACE, 1.0, 0.0, 0.0)],
                    Camera((236, 200), 1.35, (14, 8), 0.12, 3.5, 1.2, seed=21),
                    (0, 0, 478, 540),
                ),
                Shot(
                    hopper,
                    [(HOPPER_FACE, 1.0, 0.0, 0.0)],
                    Camera((258, 300), 1.0, (12, 10), 0.10, 3.0, 1.2, seed=22),
                    (482, 0, 478, 540),
                ),
            ],
            Sensor(seed=23),
        ),
    ]
    hop_wide, x0 = pillarbox(hopper, 1100)
    clips.append(
        Clip(
            "face_audio.mp4",
            (640, 360),
            5.0,
            [
                Shot(
                    hop_wide,
                    [(HOPPER_FACE, 1.0, x0, 0.0)],
                    Camera((x0 + 261, 285), 0.72, (16, 10), 0.12, 3.0, 0.8, seed=31),
                    (0, 0, 640, 360),
                )
            ],
            Sensor(seed=32),
            audio=True,
        )
    )
    clips.append(
        Clip(
            "no_face.mp4",
            (640, 360),
            3.0,
            [Shot(coffee, [], Camera((300, 200), 1.3, (20, 8), 0.10, 3.0, 0.8, seed=41), (0, 0, 640, 360))],
            Sensor(seed=42),
        )
    )
    return clips


def _face_truth(
    face: Face, k: float, ox: float, oy: float, m: np.ndarray, rect: tuple[int, ...]
) -> dict | None:
    """Map a photo face through world placement and camera; clip to the shot; None if < half visible."""
    x1, y1, x2, y2 = face.box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64) * k + (ox, oy)
    eyes = np.array(face.eyes, np.float64) * k + (ox, oy)
    rx, ry, rw, rh = rect
    off = np.array([rx, ry], np.float64)
    c = apply(m, corners) + off
    bx1, by1 = c.min(axis=0)
    bx2, by2 = c.max(axis=0)
    cx1, cy1 = max(bx1, rx), max(by1, ry)
    cx2, cy2 = min(bx2, rx + rw), min(by2, ry + rh)
    full = (bx2 - bx1) * (by2 - by1)
    vis = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0)
    if vis < 0.5 * full:
        return None
    e = apply(m, eyes) + off
    return {
        "person": face.person,
        "box": [round(float(v), 2) for v in (cx1, cy1, cx2, cy2)],
        "eyes": [[round(float(x), 2), round(float(y), 2)] for x, y in e],
    }


# --------------------------------------------------------------------------------------------------
# Audio: quiet tone with a loud click at every whole second


def make_audio(seconds: float) -> np.ndarray:
    """Mono float32 samples: a quiet 440 Hz tone (-32 dBFS) and a 10 ms click at every whole second."""
    n = round(seconds * AUDIO_RATE)
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    sig = 0.025 * np.sin(2 * np.pi * 440.0 * t)
    click_len = AUDIO_RATE // 100
    tc = np.arange(click_len) / AUDIO_RATE
    click = 0.8 * np.sin(2 * np.pi * 2000.0 * tc) * np.exp(-tc / 0.003)
    for s in range(int(math.ceil(seconds))):
        a = s * AUDIO_RATE
        m = min(click_len, n - a)
        if m > 0:
            sig[a : a + m] += click[:m]
    return sig.astype(np.float32)


def draw_sync_square(img: np.ndarray) -> None:
    """A small white square in the top-left corner marks the frames at whole seconds."""
    img[8:32, 8:32] = 255


# --------------------------------------------------------------------------------------------------
# Rendering and encoding


def render_clip(clip: Clip, out_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Render, encode and verify one clip; write its faces JSON. Returns the clip path."""
    w, h = clip.size
    mats = [camera_matrices(s.camera, clip.frames, (s.rect[2], s.rect[3])) for s in clip.shots]
    sensor = SensorModel(clip.sensor, clip.size, clip.frames)
    path = out_dir / clip.name
    truth: list[list[dict]] = []

    with av.open(str(path), "w", format="mp4") as container:
        vs = container.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.thread_count = 1
        vs.options = {"crf": str(clip.crf), "preset": "medium", "threads": "1"}
        astream = None
        audio = None
        if clip.audio:
            astream = container.add_stream("aac", rate=AUDIO_RATE)
            astream.layout = "mono"
            astream.bit_rate = 64_000
            audio = make_audio(clip.seconds)
        a_pos = 0

        for i in range(clip.frames):
            img = np.zeros((h, w, 3), np.uint8)
            faces: list[dict] = []
            for shot, ms in zip(clip.shots, mats, strict=True):
                x, y, sw, sh = shot.rect
                img[y : y + sh, x : x + sw] = warp(shot.world, ms[i], (sw, sh))
                for face, k, ox, oy in shot.faces:
                    f = _face_truth(face, k, ox, oy, ms[i], shot.rect)
                    if f is not None:
                        faces.append(f)
            img = sensor(img, i)
            if len(clip.shots) > 1:  # dark divider between split-screen panels
                for shot in clip.shots[1:]:
                    img[:, shot.rect[0] - 4 : shot.rect[0]] = 16
            if clip.audio and clip.sync_marks and i % FPS == 0:
                draw_sync_square(img)
            truth.append(faces)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for pkt in vs.encode(frame):
                container.mux(pkt)
            if astream is not None and audio is not None:
                end = min(round((i + 1) * AUDIO_RATE / FPS), len(audio))
                while a_pos + 1024 <= end or (i == clip.frames - 1 and a_pos < len(audio)):
                    chunk = audio[a_pos : a_pos + 1024]
                    af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                    af.sample_rate, af.pts, af.time_base = AUDIO_RATE, a_pos, Fraction(1, AUDIO_RATE)
                    for pkt in astream.encode(af):
                        container.mux(pkt)
                    a_pos += len(chunk)
        for pkt in vs.encode(None):
            container.mux(pkt)
        if astream is not None:
            for pkt in astream.encode(None):
                container.mux(pkt)

    # read back what was really written: pts and time base of the decoded video frames
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        time_base = v.time_base
        pts = [f.pts for f in c.decode(v)]
    if len(pts) != clip.frames:
        raise RuntimeError(f"{clip.name}: expected {clip.frames} decoded frames, got {len(pts)}")
    steps = {b - a for a, b in zip(pts, pts[1:], strict=False)}
    if pts[0] != 0 or len(steps) != 1:
        raise RuntimeError(
            f"{clip.name}: expected pts from 0 with a constant step, got {pts[:5]}... steps {steps}"
        )

    doc = {
        "clip": clip.name,
        "width": w,
        "height": h,
        "fps": FPS,
        "time_base": f"{time_base.numerator}/{time_base.denominator}",
        "frames": [
            {"frame": i, "pts": p, "faces": f} for i, (p, f) in enumerate(zip(pts, truth, strict=True))
        ],
    }
    truth_path(path).write_text(json.dumps(doc, indent=1) + "\n")
    size = path.stat().st_size
    log(
        f"{clip.name}: {w}x{h} {clip.frames} frames, {size / 1e6:.2f} MB"
        + (" (+AAC audio)" if clip.audio else "")
    )
    if size >= MAX_BYTES:
        raise RuntimeError(f"{clip.name}: {size} bytes, expected < {MAX_BYTES}; raise crf")
    return path


def truth_path(clip_path: Path) -> Path:
    """``samples/one_face.mp4`` -> ``samples/one_face.faces.json``."""
    return clip_path.with_suffix(".faces.json")


# --------------------------------------------------------------------------------------------------
# Checking the truth with an independent detector


def face_cascade() -> cv2.CascadeClassifier:
    """OpenCV's LBP frontal-face cascade as shipped by scikit-image.

    opencv-contrib-python 5 no longer bundles the Haar cascades (``cv2.data`` is empty), so we use
    the LBP cascade file scikit-image ships; it has a typo in one tag that OpenCV rejects, which
    we fix in a temporary copy.
    """
    from skimage import data

    text = Path(data.lbp_frontal_face_cascade_filename()).read_text()
    text = text.replace("featuhreParams", "featureParams")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "lbpcascade_frontalface.xml"
        p.write_text(text)
        casc = cv2.CascadeClassifier(str(p))
    if casc.empty():
        raise RuntimeError("could not load the LBP face cascade from scikit-image")
    return casc


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_truth(clip_path: Path, every: int = 1) -> tuple[int, int, int]:
    """Run the cascade on decoded frames; count true faces matched by a detection with IoU >= 0.5.

    Returns (matched faces, true faces, detections matching no true face).
    """
    doc = json.loads(truth_path(clip_path).read_text())
    casc = face_cascade()
    matched = total = spurious = 0
    with av.open(str(clip_path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % every:
                continue
            gray = cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY)
            dets = [
                (x, y, x + w, y + h) for x, y, w, h in casc.detectMultiScale(gray, 1.05, 4, minSize=(40, 40))
            ]
            faces = doc["frames"][i]["faces"]
            total += len(faces)
            matched += sum(any(iou(f["box"], d) >= 0.5 for d in dets) for f in faces)
            spurious += sum(all(iou(f["box"], d) < 0.5 for f in faces) for d in dets)
    return matched, total, spurious


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output folder (default: samples/)"
    )
    ap.add_argument("--only", nargs="*", help="clip names to make (default: all)")
    ap.add_argument(
        "--check", action="store_true", help="score the truth boxes with OpenCV's LBP face cascade"
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in build_clips():
        if args.only and clip.name not in args.only:
            continue
        path = render_clip(clip, args.out)
        if args.check:
            m, t, s = check_truth(path)
            print(
                f"  LBP cascade: {m}/{t} true faces matched at IoU >= 0.5 ({m / max(t, 1):.1%}), {s} spurious"
            )


if __name__ == "__main__":
    main()
