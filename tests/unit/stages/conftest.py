"""Shared helpers for stage tests: deterministic frames with known content.

Import the helper directly (``from tests.unit.stages.conftest import make_frame``) or use the
``make_frame`` fixture, which returns the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from streamer.frame import Face, Frame, StreamInfo

TIME_BASE = Fraction(1, 15360)
RATE = Fraction(30)
PTS_PER_FRAME = 512  # 15360 / 30


def make_stream(width: int = 160, height: int = 120, **changes: object) -> StreamInfo:
    """A StreamInfo like a 30 fps file demuxed by PyAV (time base 1/15360)."""
    info: dict[str, object] = {
        "uri": "test://gradient",
        "width": width,
        "height": height,
        "time_base": TIME_BASE,
        "rate": RATE,
        "frame_count": None,
    }
    info.update(changes)
    return StreamInfo(**info)  # type: ignore[arg-type]


def make_image(width: int = 160, height: int = 120, index: int = 0) -> np.ndarray:
    """A deterministic RGB picture: gradients plus a bright square that moves with ``index``.

    Every pixel differs from its neighbours in some channel, so scaling, cropping, flipping and
    colour-order mistakes all show in a comparison.
    """
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)  # red: left -> right
    image[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)  # green: top -> bottom
    image[..., 2] = ((x + 2 * y + 7 * index) % 256).astype(np.uint8)  # blue: diagonal ramp
    side = max(2, min(width, height) // 4)
    x0 = (width // 8 + 3 * index) % max(1, width - side)
    y0 = height // 8
    image[y0 : y0 + side, x0 : x0 + side] = (250, 240, 30)
    return image


def make_frame(
    index: int = 0,
    width: int = 160,
    height: int = 120,
    faces: Sequence[Face | tuple[float, float, float, float]] = (),
    image: np.ndarray | None = None,
    **changes: object,
) -> Frame:
    """A Frame at ``index`` (pts = index * 512 in 1/15360, 30 fps) with a deterministic image.

    ``faces`` may be Face objects or bare boxes (given a score of 0.9). ``image`` overrides the
    generated picture (its size wins over width/height); other keywords go to the Frame.
    """
    if image is None:
        image = make_image(width, height, index)
    h, w = image.shape[:2]
    face_objs = tuple(f if isinstance(f, Face) else Face(box=tuple(f), score=0.9) for f in faces)
    return Frame(
        image=image,
        index=index,
        pts=index * PTS_PER_FRAME,
        time_base=TIME_BASE,
        stream=make_stream(w, h),
        faces=face_objs,
        **changes,  # type: ignore[arg-type]
    )


@pytest.fixture(name="make_frame")
def make_frame_fixture() -> object:
    """The ``make_frame`` function, for tests that prefer a fixture to an import."""
    return make_frame


def run_stage(stage: Any, frames: Sequence[Frame]) -> tuple[list[Frame], list[int]]:
    """Every frame out of ``stage`` (``process`` each, then ``flush``), and how many came out of
    each ``process`` call (stages that hold frames return none, then several)."""
    out: list[Frame] = []
    sizes = []
    for f in frames:
        got = stage.process(f)
        got = [got] if isinstance(got, Frame) else list(got or ())
        sizes.append(len(got))
        out.extend(got)
    out.extend(stage.flush())
    return out, sizes
