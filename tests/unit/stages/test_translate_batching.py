"""translate ``batch_frames``: cross-frame batching in offline graphs, padded to batch bins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from streamer.frame import Frame
from streamer.stages.base import RunContext
from streamer.stages.translate import Translate
from tests import helpers_onnx as H
from tests.unit.stages.conftest import make_frame, run_stage


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return H.ours(tmp_path_factory.mktemp("batching") / "ours.onnx")


def _stage(model: Path, mode: str = "offline", logs: list[str] | None = None, **params: object) -> Translate:
    ctx = RunContext(mode=mode, log=(logs.append if logs is not None else lambda _m: None))  # type: ignore[arg-type]
    stage = Translate("style", Translate.Params(model=str(model), threads=1, **params), ctx)
    stage.open()
    return stage


# faces per frame vary: 0, 1, 2, 3, 1, 0, 2, 3, 1, 2, 3 (boxes inside a 512 x 512 photo)
BOXES = [(40, 60, 140, 180), (250, 80, 360, 210), (120, 300, 230, 430)]
COUNTS = [0, 1, 2, 3, 1, 0, 2, 3, 1, 2, 3]


def _faces_frames() -> list[Frame]:
    astro = data.astronaut()
    return [make_frame(i, image=np.roll(astro, 3 * i, axis=1), faces=BOXES[:n]) for i, n in enumerate(COUNTS)]


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Batched convolutions may round a value differently by one level, nothing more."""
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.mean(a == b) > 0.999


@pytest.mark.parametrize("every", [1, 2])
def test_faces_batched_across_frames_equal_unbatched_and_see_only_bins(model: Path, every: int) -> None:
    frames = _faces_frames()
    plain, _ = run_stage(_stage(model, region="faces", every=every), frames)
    stage = _stage(model, region="faces", every=every, batch=4, batch_frames=3)
    stage.model.shapes_run.clear()  # forget the warm-up
    batched, sizes = run_stage(stage, frames)
    assert [f.index for f in batched] == list(range(len(frames)))
    assert 0 in sizes and max(sizes) >= 3  # frames were held back, then released by a pass
    for a, b in zip(plain, batched, strict=True):
        assert (a.translated, a.faces) == (b.translated, b.faces)
        _same(a.image, b.image)
        assert a.face_crops is not None and b.face_crops is not None
        assert len(a.face_crops.matrices) == len(b.face_crops.matrices)
        for x, y in zip(a.face_crops.styled or (), b.face_crops.styled or (), strict=True):
            _same(x, y)
    # the session only ever ran the bins 1, 2, 4, whatever the number of faces held
    assert {shape[0] for shape in stage.model.shapes_run} <= {1, 2, 4}
    assert len({shape[1:] for shape in stage.model.shapes_run}) == 1
    faces_per_pass = sum(COUNTS[i] for i in range(len(frames)) if i % every == 0)
    assert sum(n * s[0] for s, n in stage.model.shapes_run.items()) >= faces_per_pass


def test_whole_frames_batched_equal_unbatched(model: Path) -> None:
    astro = data.astronaut()[:200, :240]
    frames = [make_frame(i, image=np.roll(astro, 5 * i, axis=0)) for i in range(7)]
    plain, _ = run_stage(_stage(model), frames)
    stage = _stage(model, batch_frames=4, size=120)
    ref = _stage(model, size=120)
    stage.model.shapes_run.clear()
    batched, sizes = run_stage(stage, frames)
    assert sizes == [0, 0, 0, 4, 0, 0, 0] and len(batched) == 7
    assert {s[0] for s in stage.model.shapes_run} == {4}  # 4, then the last 3 padded to the 4 bin
    for f, b in zip(frames, batched, strict=True):
        assert b.translated is True and b.index == f.index
        _same(b.image, ref.process(f).image)
    plain2, _ = run_stage(_stage(model, batch_frames=4), frames)
    for a, b in zip(plain, plain2, strict=True):
        _same(a.image, b.image)


def test_live_graphs_do_not_hold_frames(model: Path) -> None:
    logs: list[str] = []
    stage = _stage(model, mode="live", logs=logs, region="faces", batch_frames=4)
    out = stage.process(_faces_frames()[2])
    assert isinstance(out, Frame) and out.translated is True
    assert any("batch_frames: 4 ignored in a live graph" in m for m in logs)
