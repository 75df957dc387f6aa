"""Real faces from Debian's opencv-doc package (export/data/opencv_doc.py): the stored face boxes
are where BlazeFace finds the faces, the pictures are untouched panels, and a missing package is a
one-line error naming the apt command."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from export.data import opencv_doc
from export.errors import ExportError
from streamer.faces.tracker import iou as box_iou

needs_doc = pytest.mark.skipif(
    not opencv_doc.available(), reason="Debian's opencv-doc is not installed (apt-get install opencv-doc)"
)


@needs_doc
def test_stored_boxes_are_where_blazeface_finds_the_faces() -> None:
    from streamer.frame import Frame
    from streamer.stages.base import RunContext, stage_class
    from tests.unit.stages.conftest import make_stream

    cls = stage_class("face_detect")
    det = cls("faces", cls.Params(range="short"), RunContext(quiet=True, log=lambda m: None))
    det.open()
    try:
        photos = opencv_doc.doc_photos()
        assert len(photos) == 7 and len({name for name, _ in photos}) == 7
        for name, photo in photos:
            h, w = photo.image.shape[:2]
            frame = Frame(
                image=photo.image,
                index=0,
                pts=0,
                time_base=Fraction(1, 25),
                stream=make_stream(w, h),
            )
            faces = det.process(frame).faces
            assert faces, name
            best = max(box_iou(f.box, photo.box) for f in faces)
            assert best > 0.9, (name, best)
            (lx, _), (rx, _) = photo.eyes
            x1, y1, x2, y2 = photo.box
            assert x1 < lx < rx < x2, name
    finally:
        det.close()


@needs_doc
def test_megamind_frames_are_the_measured_frames_of_the_clip() -> None:
    frames = opencv_doc.megamind_frames(2)
    assert len(frames) == 22 and {name for name, _ in frames} == {"megamind"}
    first = frames[0][1]
    assert first.image.shape == (528, 720, 3) and first.image.dtype == np.uint8
    assert not np.array_equal(first.image, frames[-1][1].image)
    x1, y1, x2, y2 = first.box
    assert 0 <= x1 < x2 <= 720 and 0 <= y1 < y2 <= 528


def test_missing_package_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMER_OPENCV_DOC", str(tmp_path))
    opencv_doc.doc_photos.cache_clear()
    try:
        assert not opencv_doc.available()
        with pytest.raises(ExportError, match="apt-get install opencv-doc") as err:
            opencv_doc.doc_photos()
        assert "\n" not in str(err.value)
    finally:
        opencv_doc.doc_photos.cache_clear()
