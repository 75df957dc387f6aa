from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from streamer.errors import SinkError
from streamer.stages.base import STAGES, RunContext
from streamer.stages.frames import Frames
from tests.unit.stages.conftest import make_frame


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _run(tmp: Path, n: int, **params: object) -> list:
    stage = Frames("ref", Frames.Params(dir=str(tmp), **params), RunContext())
    stage.open()
    frames = [make_frame(i) for i in range(n)]
    for f in frames:
        assert stage.process(f) is None
    stage.close()
    return frames


def test_registered() -> None:
    assert STAGES["frames"] is Frames


def test_pngs_decode_back_to_the_frames(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    frames = _run(out, 3)
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    for f in frames:
        got = _read_rgb(out / f"{f.index:06d}.png")
        assert got.shape == f.image.shape
        np.testing.assert_array_equal(got, f.image)  # lossless and in RGB order


def test_every_keeps_multiples_of_every(tmp_path: Path) -> None:
    _run(tmp_path, 7, every=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000003.png", "000006.png"]


def test_width_downscales_keeping_aspect(tmp_path: Path) -> None:
    frames = _run(tmp_path, 1, width=40)
    got = _read_rgb(tmp_path / "000000.png")
    assert got.shape == (30, 40, 3)
    ref = cv2.resize(frames[0].image, (40, 30), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(got, ref)


def test_width_never_enlarges(tmp_path: Path) -> None:
    _run(tmp_path, 1, width=1000)
    assert _read_rgb(tmp_path / "000000.png").shape == (120, 160, 3)


def test_clean_removes_only_old_frame_files(tmp_path: Path) -> None:
    _run(tmp_path, 5)
    (tmp_path / "notes.png").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("x")
    _run(tmp_path, 2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["000000.png", "000001.png", "keep.txt", "notes.png"]


def test_no_clean_keeps_old_frames(tmp_path: Path) -> None:
    _run(tmp_path, 3)
    _run(tmp_path, 1, clean=False)
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_dir_that_is_a_file_is_one_line_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    stage = Frames("ref", Frames.Params(dir=str(blocker)), RunContext())
    with pytest.raises(SinkError) as info:
        stage.open()
    assert "\n" not in str(info.value) and str(blocker) in str(info.value)


@pytest.mark.parametrize("bad", [{"every": 0}, {"width": 0}, {"dirs": "x"}])
def test_invalid_params(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Frames.Params(**{"dir": "out", **bad})
