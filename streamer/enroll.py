"""enroll: add a person to a face gallery from one or more photos.

``streamer enroll --gallery out/gallery.json --name alice alice1.jpg alice2.jpg``: each photo is
read, its faces found with the same detector the graphs use, the largest face embedded with the
same crop the ``verify`` stage uses, and the embeddings of all photos averaged into one entry.
One photo is enough; several (different light, angle) make the entry steadier, and the summary
says how many were averaged. Enrolling a name again adds the new photos to its average, or
replaces it with ``--replace``. The gallery records the embedder's id, so a graph with another
embedder refuses it instead of matching nonsense.

Every problem a user can cause (unreadable photo, no face in it, missing model, a gallery from
another embedder) is a one-line StreamerError that names the file and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from streamer.errors import StreamerError
from streamer.frame import Face

DEFAULT_MODEL = Path("models/face_embedder.onnx")
Detect = Callable[[np.ndarray], Sequence[Face]]


class EnrollError(StreamerError):
    """A photo cannot be used for enrolment (unreadable, no face)."""


def read_rgb(path: Path) -> np.ndarray:
    """A photo as uint8 RGB [H, W, 3]; one-line EnrollError when it cannot be read."""
    import cv2

    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise EnrollError(f"image {what}: {path} (expected a photo file such as .jpg or .png)")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise EnrollError(
            f"cannot read image {path}: not a picture OpenCV can decode (expected .jpg, .png, ...)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _area(face: Face) -> float:
    x1, y1, x2, y2 = face.box
    return (x2 - x1) * (y2 - y1)


def largest_face(faces: Sequence[Face], source: str, log: Callable[[str], None] | None = None) -> Face:
    """The largest face (by box area); says which one when there are several."""
    if not faces:
        raise EnrollError(
            f"no face found in {source}; use a photo with a clear, frontal face at least ~80 px tall"
        )
    face = max(faces, key=_area)
    if len(faces) > 1 and log is not None:
        box = ", ".join(f"{v:.0f}" for v in face.box)
        log(f"{source}: {len(faces)} faces, using the largest (box {box})")
    return face


def run_enroll(
    gallery: Path,
    name: str,
    images: Sequence[Path],
    model: Path = DEFAULT_MODEL,
    threshold: float | None = None,
    *,
    backend: str = "mediapipe",
    detector_range: str = "short",
    detect: Detect | None = None,
    threads: int | None = None,
    replace: bool = False,
    log: Callable[[str], None] | None = None,
) -> str:
    """Enroll ``name`` from ``images`` into ``gallery`` (created if missing); return the summary
    line to print. ``threshold`` (cosine distance) is stored in the gallery; without it the
    gallery keeps its own, else takes the model's. ``detect`` replaces the face detector (tests);
    otherwise ``FaceDetector(backend=backend, range=detector_range)`` is used, the detector of
    the face_detect stage with its defaults. Raises StreamerError for user errors."""
    from streamer.faces.embed import Embedder
    from streamer.faces.gallery import Gallery, GalleryError

    gallery, model = Path(gallery), Path(model)
    if not name or not name.strip():
        raise EnrollError("--name is empty; expected the person's name, e.g. --name alice")
    name = name.strip()
    if not images:
        raise EnrollError("no images given; expected one or more photos of the person")
    if threshold is not None and not 0.0 < threshold <= 2.0:
        raise EnrollError(f"--threshold {threshold}: expected a cosine distance in (0, 2], e.g. 0.5")
    photos = [read_rgb(Path(p)) for p in images]  # fail on a bad path before loading models
    embedder = Embedder(model, threads=threads, providers=["cpu"], name="enroll")
    if gallery.exists():
        book = Gallery.load(gallery, expected_embedder_id=embedder.embedder_id)
    else:
        book = Gallery(embedder.embedder_id, embedder=str(model), threshold=embedder.threshold, path=gallery)
    closer: Callable[[], None] | None = None
    if detect is None:
        from streamer.faces.detect import FaceDetector

        detector = FaceDetector(backend=backend, range=detector_range, log=log)  # type: ignore[arg-type]
        detect, closer = detector.detect, detector.close
    try:
        vectors = []
        for path, image in zip(images, photos, strict=True):
            face = largest_face(list(detect(image)), str(path), log)
            vectors.append(embedder.embed(image, [face])[0])
    finally:
        if closer is not None:
            closer()
    if threshold is not None:
        book.threshold = float(threshold)
    if book.threshold is None:
        raise GalleryError(
            f"{model} records no threshold; give one with --threshold (a cosine distance, e.g. 0.5)"
        )
    existed = book.add(name, np.stack(vectors), sources=[str(p) for p in images], replace=replace)
    book.embedder = str(model)
    book.save(gallery)
    n = len(images)
    photos_said = f"{n} image{'s' if n != 1 else ''}" + (" (averaged)" if n > 1 else "")
    if existed and not replace:
        total = next(p.images for p in book.people if p.name == name)
        verb, photos_said = "added to", f"{photos_said}, now {total} images averaged"
    else:
        verb = "replaced" if existed else "enrolled"
    return (
        f"{verb} '{name}' from {photos_said} in {gallery} "
        f"({len(book.people)} {'person' if len(book.people) == 1 else 'people'}, "
        f"embedder {book.embedder_id}, threshold {book.threshold:g})"
    )
