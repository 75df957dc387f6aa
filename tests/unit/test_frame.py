"""Frame's pixels: the decoder's planes until a stage reads ``image``, converted once, shared
by ``replace``; an RGB image given explicitly is validated as before."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from streamer.frame import Frame, Planes
from tests.unit.stages.conftest import make_image, make_stream


class CountingPlanes:
    """Planes whose conversion is counted (and slow, to widen any race)."""

    def __init__(self, width: int = 32, height: int = 24, delay: float = 0.0) -> None:
        self.size = (width, height)
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()
        self._rgb: np.ndarray | None = None

    def rgb(self) -> np.ndarray:
        with self._lock:
            if self._rgb is None:
                self.calls += 1
                time.sleep(self.delay)
                self._rgb = make_image(*self.size, 3)
            return self._rgb


def _frame(pixels: object) -> Frame:
    return Frame(
        image=pixels,  # type: ignore[arg-type]
        index=0,
        pts=0,
        time_base=Fraction(1, 30),
        stream=make_stream(32, 24),
    )


def test_planes_convert_only_when_image_is_read() -> None:
    planes = CountingPlanes()
    assert isinstance(planes, Planes)
    frame = _frame(planes)
    assert (frame.width, frame.height) == (32, 24) and planes.calls == 0
    later = frame.replace(faces=(), translated=False)  # annotations only: no conversion
    assert later.pixels is planes and planes.calls == 0
    assert "planes" in repr(frame) and planes.calls == 0
    first = frame.image
    assert first.shape == (24, 32, 3) and planes.calls == 1
    assert later.image is first and frame.image is first and planes.calls == 1


def test_replace_image_makes_the_rgb_the_picture() -> None:
    planes = CountingPlanes()
    rgb = make_image(16, 8, 1)
    frame = _frame(planes).replace(image=rgb)
    assert frame.pixels is rgb and frame.image is rgb and (frame.width, frame.height) == (16, 8)
    assert planes.calls == 0


def test_image_arrays_are_still_validated() -> None:
    with pytest.raises(ValueError, match=r"expected uint8 array of shape \(H, W, 3\)"):
        _frame(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        _frame(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="expected a numpy array, got list"):
        _frame([[0, 0, 0]])
    with pytest.raises(TypeError, match="image"):
        Frame(index=0, pts=0, time_base=Fraction(1, 30), stream=make_stream())  # type: ignore[call-arg]
    frame = _frame(make_image(8, 6, 0))
    with pytest.raises(AttributeError):
        frame.image = make_image(8, 6, 1)  # type: ignore[misc]


def test_fan_out_readers_convert_once() -> None:
    planes = CountingPlanes(delay=0.05)
    frame = _frame(planes)
    seen: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: seen.append(frame.image)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert planes.calls == 1 and len(seen) == 8 and all(s is seen[0] for s in seen)
