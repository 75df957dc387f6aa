"""Real faces from Debian's ``opencv-doc`` package: seven photographed people and an animated clip.

Why: the photos inside scikit-image and matplotlib hold one detailed colour face (the astronaut)
plus small greyscale LFW faces. A deepfake detector trained on so few real people learns *who*
looks real instead of what a manipulation leaves: it called Grace Hopper, never seen in
training, fake on 80 % of her crops. OpenCV's documentation ships more real material:

- seven photographed people (the "Source" panel of the edge-detection tutorial's three
  portraits, the facemark tutorial's two portraits, the face-detection tutorial's Lena and the
  face-landmark tutorial's photo of a man with glasses), each the untouched left panel of a
  figure, never an annotated or processed one;
- ``Megamind.avi``, 270 frames of a DreamWorks animated character (CG: real, not manipulated).

Install: ``apt-get install opencv-doc`` (the project's CI does). Face boxes and eye centres were
measured once with BlazeFace, as the runtime detects them (short range; eyes image-left first),
and live in ``opencv_doc_faces.json``; a test checks them against BlazeFace when the package is
installed. ``STREAMER_OPENCV_DOC`` points somewhere else (a copy of ``/usr/share/doc/opencv-doc``).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import numpy as np

from export.data.faces import Photo
from export.errors import ExportError

FACES = Path(__file__).with_name("opencv_doc_faces.json")
DEFAULT_ROOT = Path("/usr/share/doc/opencv-doc")


def root() -> Path:
    return Path(os.environ.get("STREAMER_OPENCV_DOC", DEFAULT_ROOT))


def available() -> bool:
    return (root() / _faces()["megamind"]["file"]).is_file()


@cache
def _faces() -> dict:
    return json.loads(FACES.read_text())


def _need(path: Path) -> Path:
    if not path.is_file():
        raise ExportError(
            f"{path} is missing: the deepfake data need Debian's opencv-doc package "
            "(apt-get install opencv-doc) or STREAMER_OPENCV_DOC pointing at a copy of it"
        )
    return path


def _photo(image: np.ndarray, rec: dict) -> Photo:
    (lx, ly), (rx, ry) = rec["eyes"]
    return Photo(np.ascontiguousarray(image), tuple(rec["box"]), ((lx, ly), (rx, ry)))  # type: ignore[arg-type]


@cache
def doc_photos() -> tuple[tuple[str, Photo], ...]:
    """(person, photo) for the seven photographed people (module doc)."""
    import cv2

    out = []
    for name, rec in _faces()["photos"].items():
        bgr = cv2.imread(str(_need(root() / rec["file"])), cv2.IMREAD_COLOR)
        x0, y0, x1, y1 = rec["panel"]
        out.append((f"doc_{name}", _photo(bgr[y0:y1, x0:x1, ::-1], rec)))
    return tuple(out)


@cache
def megamind_frames(every: int = 1) -> tuple[tuple[str, Photo], ...]:
    """(character, frame) for every ``every``-th measured frame of ``Megamind.avi`` (one person)."""
    import cv2

    meta = _faces()["megamind"]
    want = {int(k): v for k, v in meta["frames"].items()}
    keep = set(sorted(want)[::every])
    cap = cv2.VideoCapture(str(_need(root() / meta["file"])))
    out, index = [], 0
    try:
        while keep:
            ok, bgr = cap.read()
            if not ok:
                break
            if index in keep:
                out.append(("megamind", _photo(bgr[..., ::-1], want[index])))
                keep.discard(index)
            index += 1
    finally:
        cap.release()
    if keep:
        raise ExportError(f"{root() / meta['file']}: frames {sorted(keep)[:3]}... not decoded")
    return tuple(out)
