"""Real faces from files that PyPI packages ship (export/data/package_photos.py): the stored face
boxes are where BlazeFace finds the faces, the archives are the ones measured (SHA-256), and a
missing or altered archive is a one-line error naming the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from export.data import package_photos
from export.errors import ExportError
from streamer.faces.tracker import iou as box_iou

needs_files = pytest.mark.skipif(
    not package_photos.available(),
    reason="package photos not fetched (python -m export.data.package_photos)",
)


def _measure(image: np.ndarray, det: object) -> list[tuple[float, float, float, float]]:
    """BlazeFace boxes as they were measured: on the whole picture and on 400 px tiles 150 px apart."""
    h, w = image.shape[:2]
    boxes = [f.box for f in det.detect(image)]  # type: ignore[attr-defined]
    for ty in range(0, max(h - 300, 1), 150):
        for tx in range(0, max(w - 300, 1), 150):
            tile = np.ascontiguousarray(image[ty : ty + 400, tx : tx + 400])
            boxes += [(b[0] + tx, b[1] + ty, b[2] + tx, b[3] + ty) for b in (f.box for f in det.detect(tile))]  # type: ignore[attr-defined]
    return boxes


@needs_files
def test_stored_boxes_are_where_blazeface_finds_the_faces() -> None:
    """Each stored face is one BlazeFace finds (short range, the runtime's default); the eyes lie
    inside the box, image-left first."""
    from streamer.faces.detect import FaceDetector

    photos = package_photos.package_photos()
    assert len(photos) == 10 and len({p for p, _ in photos}) == 8
    det = FaceDetector(range="short")
    found: dict[int, list] = {}
    try:
        for name, photo in photos:
            boxes = found.setdefault(id(photo.image), _measure(photo.image, det))
            best = max((box_iou(b, photo.box) for b in boxes), default=0.0)
            assert best > 0.9, (name, best)
            x1, y1, x2, y2 = photo.box
            (lx, ly), (rx, ry) = photo.eyes
            assert x1 < lx < rx < x2 and y1 < ly < y2 and y1 < ry < y2, name
    finally:
        det.close()


@needs_files
def test_pictures_are_decoded_colour_photos() -> None:
    photos = dict((name, p) for name, p in package_photos.package_photos())
    obama = photos["obama"]
    assert obama.image.dtype == np.uint8 and obama.image.ndim == 3 and obama.image.shape[2] == 3
    assert obama.image.std(axis=2).mean() > 5  # colour, not greyscale


def test_missing_archive_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(package_photos.ENV, str(tmp_path))
    package_photos.package_photos.cache_clear()
    try:
        assert not package_photos.available()
        with pytest.raises(ExportError, match="python -m export.data.package_photos") as err:
            package_photos.package_photos()
        assert "\n" not in str(err.value)
    finally:
        package_photos.package_photos.cache_clear()


@needs_files
def test_an_altered_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in package_photos._archives():
        shutil.copy(package_photos.root() / name, tmp_path / name)
    victim = tmp_path / next(iter(package_photos._archives()))
    with victim.open("ab") as f:
        f.write(b"\0")
    monkeypatch.setenv(package_photos.ENV, str(tmp_path))
    package_photos.package_photos.cache_clear()
    try:
        with pytest.raises(ExportError, match="SHA-256 differs") as err:
            package_photos.package_photos()
        assert "\n" not in str(err.value)
    finally:
        package_photos.package_photos.cache_clear()
