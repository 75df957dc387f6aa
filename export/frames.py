"""Real frames for parity checks and int8 calibration: sample clips, a given clip, or photos.

Parity on real images matters: random noise exercises none of the value ranges a generator
sees in use, and instance norm statistics of noise hide errors that faces and scenes show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def fit(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop ``frame`` to the aspect ratio of ``height x width`` and resize to it (RGB uint8)."""
    import cv2

    h, w = frame.shape[:2]
    scale = min(h / height, w / width)
    ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = frame[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if ch > height else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=interp))


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` RGB frames spread over the clip (decoded with PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 0
        step = max(1, total // count) if total else 7
        frames = []
        for i, frame in enumerate(container.decode(stream)):
            if i % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    return frames


def read_frames(path: str | Path, count: int) -> list[np.ndarray]:
    """RGB frames of a clip, an image, or a directory of images; raises ``ExportError`` if none."""
    from export.errors import ExportError

    path = Path(path)
    if not path.exists():
        raise ExportError(
            f"calibration source {path} does not exist: pass a video clip, an image or a folder"
        )
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    )
    frames: list[np.ndarray] = []
    for f in files:
        if f.suffix.lower() in IMAGE_SUFFIXES:
            import cv2

            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is not None:
                frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        else:
            try:
                frames += video_frames(f, count - len(frames))
            except Exception as e:  # PyAV raises many types for unreadable media
                raise ExportError(f"cannot decode {f} as video: {e}") from e
        if len(frames) >= count:
            break
    if not frames:
        raise ExportError(
            f"no frames could be read from {path}: expected a video clip, an image or a folder of images"
        )
    return frames[:count]


def sample_frames(count: int) -> Iterator[np.ndarray]:
    """Real frames: from ``samples/*.mp4`` when present, else scikit-image's photos (astronaut etc.)."""
    clips = sorted(SAMPLES.glob("*.mp4")) if SAMPLES.is_dir() else []
    produced = 0
    for clip in clips:
        try:
            for f in video_frames(clip, max(1, count // len(clips) + 1)):
                yield f
                produced += 1
                if produced == count:
                    return
        except Exception:  # noqa: BLE001  (a clip being written right now or broken: use the photos)
            continue
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    i = 0
    while produced < count:
        yield photos[i % len(photos)]
        produced += 1
        i += 1


def describe_sample_source() -> str:
    """Where ``sample_frames`` takes its frames from, for the export log."""
    clips = sorted(SAMPLES.glob("*.mp4")) if SAMPLES.is_dir() else []
    return ", ".join(c.name for c in clips) if clips else "scikit-image photos (no samples/*.mp4)"
