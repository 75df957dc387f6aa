"""Face detection on one RGB picture: MediaPipe BlazeFace (default) or an OpenCV cascade.

``FaceDetector(...).detect(image)`` returns :class:`~streamer.frame.Face` objects sorted by
score, boxes and keypoints in pixels of the image given, no track ids (the ``face_detect``
stage adds those with :class:`~streamer.faces.tracker.IouTracker`).

Backends:

- ``mediapipe``: the MediaPipe Tasks ``FaceDetector`` (IMAGE mode: every call stands alone,
  deterministic) with a BlazeFace model from :mod:`streamer.faces.model_store`. ``short``
  range works at 128x128 and suits faces that fill a good part of the picture (webcams, the
  sample clips: 150-280 px faces in 540p/720p); ``full`` works at 192x192, finds smaller and
  farther faces, and costs about twice as much. Six keypoints per face in BlazeFace order:
  0 right eye (the viewer's left), 1 left eye, 2 nose tip, 3 mouth, 4/5 ear tragions.
- ``haar``: OpenCV's frontal-face cascade, no download. opencv-contrib-python 5 bundles no
  cascade files any more (``cv2.data`` is empty), so when ``haarcascade_frontalface_default.xml``
  is not found in the installed cv2 package, scikit-image's ``lbpcascade_frontalface_opencv.xml``
  is used (its misspelt ``featuhreParams`` tag fixed in a temporary copy). No keypoints, score 1.0
  (``min_score`` does not apply); it also fires on some face-like objects.

The default ``min_score`` is 0.65, not MediaPipe's 0.5: on the sample clips true faces score
0.69-0.98 with the short-range model and 0.74-0.98 with the full-range one, while a coffee cup
(``samples/no_face.mp4``) scores up to 0.60 / 0.62 and would be a face on a quarter of its
frames at 0.5.

``detect_width`` detects on a copy scaled to that width and scales the results back. It pays
for the cascade (its cost grows with the pixels) and for very large frames; for BlazeFace at
720p it does not: MediaPipe's own shrink to 128/192 px makes a call cost ~1.5 ms whatever the
input size, and the extra resize only adds to that.

MediaPipe's native code logs a dozen INFO lines to stderr when a detector is created; they are
silenced for that moment (set ``STREAMER_NATIVE_LOGS=1`` to see them).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.faces.model_store import ModelStoreError, cache_dir, ensure
from streamer.frame import Face

Backend = Literal["mediapipe", "haar"]
Range = Literal["short", "full"]
MODEL_FOR_RANGE = {"short": "blaze_face_short_range", "full": "blaze_face_full_range"}
DEFAULT_MIN_SCORE = 0.65

# one detection as a backend gives it: box (x1, y1, x2, y2), score, keypoints or None
_Raw = tuple[tuple[float, float, float, float], float, tuple[tuple[float, float], ...] | None]
_stderr_lock = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 (not Python's own logging)."""
    if os.environ.get("STREAMER_NATIVE_LOGS"):
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _MediaPipe:
    """The MediaPipe Tasks FaceDetector in IMAGE mode."""

    def __init__(self, path: Path, min_score: float) -> None:
        try:
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as e:
            raise ModelStoreError(
                f"face detector backend 'mediapipe' needs the mediapipe package ({e}); "
                "pip install mediapipe, or use backend: haar"
            ) from None
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=float(min_score),
        )
        with quiet_native_stderr():
            try:
                self._det = vision.FaceDetector.create_from_options(options)
            except Exception as e:  # noqa: BLE001 - MediaPipe raises RuntimeError/ValueError
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise ModelStoreError(
                    f"{path}: cannot load as a MediaPipe face detector ({first}); "
                    "expected a BlazeFace .tflite file"
                ) from None
            # the first call logs a one-off LiteRT warning (input realignment): keep it quiet too
            self.detect(np.zeros((64, 64, 3), np.uint8))

    def detect(self, image: np.ndarray) -> list[_Raw]:
        import mediapipe as mp

        h, w = image.shape[:2]
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        out: list[_Raw] = []
        for d in self._det.detect(mp_image).detections:
            b = d.bounding_box
            box = (
                float(b.origin_x),
                float(b.origin_y),
                float(b.origin_x + b.width),
                float(b.origin_y + b.height),
            )
            score = float(d.categories[0].score) if d.categories else 0.0
            kps = tuple((float(k.x) * w, float(k.y) * h) for k in (d.keypoints or ()))
            out.append((box, score, kps or None))
        return out

    def close(self) -> None:
        with quiet_native_stderr():
            self._det.close()


def _find_cascade() -> tuple[Any, str]:
    """OpenCV's Haar frontal-face cascade if installed, else scikit-image's LBP one (fixed)."""
    import cv2

    roots = []
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        roots.append(Path(data.haarcascades))
    roots.append(Path(cv2.__file__).parent)
    for root in roots:
        for p in sorted(root.rglob("haarcascade_frontalface_default.xml")):
            casc = cv2.CascadeClassifier(str(p))
            if not casc.empty():
                return casc, str(p)
    try:
        from skimage import data as skdata

        src = Path(skdata.lbp_frontal_face_cascade_filename())
        text = src.read_text().replace("featuhreParams", "featureParams")
    except (ImportError, OSError, AttributeError):
        raise ModelStoreError(
            "backend 'haar': no face cascade found (opencv-contrib-python 5 ships none); "
            "pip install scikit-image for its LBP cascade, or use backend: mediapipe"
        ) from None
    with tempfile.TemporaryDirectory(prefix="streamer-cascade-") as d:
        p = Path(d) / "lbpcascade_frontalface.xml"
        p.write_text(text)
        casc = cv2.CascadeClassifier(str(p))
    if casc.empty():
        raise ModelStoreError(f"backend 'haar': OpenCV cannot load the LBP cascade from {src}")
    return casc, str(src)


class _Cascade:
    """OpenCV cascade classifier: boxes only, score 1.0."""

    def __init__(self, min_size: int) -> None:
        self._casc, self.source = _find_cascade()
        self._min = max(24, int(min_size))

    def detect(self, image: np.ndarray) -> list[_Raw]:
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = self._casc.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(self._min,) * 2)
        return [((float(x), float(y), float(x + w), float(y + h)), 1.0, None) for x, y, w, h in found]

    def close(self) -> None:
        pass


class FaceDetector:
    """Faces in RGB pictures, boxes and keypoints in the picture's pixels, best score first."""

    def __init__(
        self,
        *,
        backend: Backend = "mediapipe",
        range: Range = "short",  # noqa: A002 - the param's documented name
        min_score: float = DEFAULT_MIN_SCORE,
        max_faces: int | None = None,
        min_size: float = 0,
        model_path: str | Path | None = None,
        detect_width: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if backend not in ("mediapipe", "haar"):
            raise ValueError(f"FaceDetector backend: expected 'mediapipe' or 'haar', got {backend!r}")
        if range not in MODEL_FOR_RANGE:
            raise ValueError(f"FaceDetector range: expected 'short' or 'full', got {range!r}")
        self.backend = backend
        self.min_score = float(min_score)
        self.max_faces = max_faces
        self.min_size = float(min_size)
        self.detect_width = detect_width
        self.model_path: Path | None = None
        self._impl: _MediaPipe | _Cascade
        if backend == "haar":
            self._impl = _Cascade(int(min_size))
            return
        if model_path is not None:
            path = Path(model_path).expanduser()
            if not path.is_file():
                raise ModelStoreError(
                    f"face detector model {path} not found; expected a BlazeFace .tflite file "
                    f"(or leave the model unset to use the cached one in {cache_dir()})"
                )
        else:
            path = ensure(MODEL_FOR_RANGE[range], log or _stderr_log)
        self.model_path = path
        self._impl = _MediaPipe(path, self.min_score)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` (uint8 HxWx3 RGB), highest score first."""
        h, w = image.shape[:2]
        small, sx, sy = image, 1.0, 1.0
        if self.detect_width is not None and w > self.detect_width:
            import cv2

            sw = int(self.detect_width)
            sh = max(1, round(h * sw / w))
            # bilinear: 0.4-0.7 ms from 720p at any width, while area averaging costs 2-4 ms
            # except at exactly half size; the detectors do as well on either
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_LINEAR)
            sx, sy = w / sw, h / sh
        faces = []
        for (x1, y1, x2, y2), score, kps in self._impl.detect(small):
            if self.backend == "mediapipe" and score < self.min_score:
                continue
            box = (
                min(max(x1 * sx, 0.0), w),
                min(max(y1 * sy, 0.0), h),
                min(max(x2 * sx, 0.0), w),
                min(max(y2 * sy, 0.0), h),
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                continue  # entirely outside the picture
            if min(box[2] - box[0], box[3] - box[1]) < self.min_size:
                continue
            if kps is not None and (sx, sy) != (1.0, 1.0):
                kps = tuple((x * sx, y * sy) for x, y in kps)
            faces.append(Face(box=box, score=score, keypoints=kps))
        faces.sort(key=lambda f: -f.score)
        if self.max_faces is not None:
            faces = faces[: self.max_faces]
        return faces

    def close(self) -> None:
        """Release the native detector (safe to call twice)."""
        impl = getattr(self, "_impl", None)
        if impl is not None:
            impl.close()
            self._impl = None  # type: ignore[assignment]

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
