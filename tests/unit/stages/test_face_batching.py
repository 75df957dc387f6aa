"""verify and deepfake ``batch_frames``: the faces of N frames in one model call, padded to batch
bins, on real footage (samples/two_people.mp4 with its annotated faces) and the shipped models;
every decision equal to the frame-by-frame run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.faces.gallery import Gallery
from streamer.frame import Face, Frame
from streamer.stages.base import RunContext
from streamer.stages.deepfake import Deepfake
from streamer.stages.verify import Verify
from tests.unit.stages.conftest import make_frame, run_stage

ROOT = Path(__file__).resolve().parents[3]
#: faces kept per frame (of the two annotated people): the count changes from frame to frame
KEEP = [2, 1, 0, 2, 2, 1, 0, 0, 2, 1, 2, 2, 1]


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    import av

    notes = json.loads((ROOT / "samples" / "two_people.faces.json").read_text())["frames"]
    out = []
    with av.open(str(ROOT / "samples" / "two_people.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= len(KEEP):
                break
            faces = [
                Face(box=tuple(face["box"]), score=0.9, keypoints=tuple(map(tuple, face["eyes"])), track_id=t)
                for t, face in enumerate(notes[i]["faces"])
            ][: KEEP[i]]
            out.append(make_frame(i, image=f.to_ndarray(format="rgb24"), faces=faces))
    return out


def _record_batches(stage: Verify | Deepfake) -> list[int]:
    """The batch size of every call the session gets."""
    model = stage.embedder if isinstance(stage, Verify) else stage.classifier
    seen: list[int] = []
    run = model._run

    def spy(crops: np.ndarray) -> np.ndarray:
        seen.append(len(crops))
        return run(crops)

    model._run = spy  # type: ignore[method-assign]
    return seen


def _deepfake(mode: str = "offline", **params: object) -> Deepfake:
    stage = Deepfake("fake", Deepfake.Params(threads=1, confirm=2, **params), RunContext(mode=mode))  # type: ignore[arg-type]
    stage.open()
    return stage


@pytest.mark.parametrize("hold", [3, 4, 16])
def test_deepfake_batched_across_frames_calls_every_face_as_frame_by_frame(
    frames: list[Frame], hold: int
) -> None:
    one, sizes_one = run_stage(_deepfake(), frames)
    stage = _deepfake(batch_frames=hold)
    batches = _record_batches(stage)
    held, sizes = run_stage(stage, frames)
    assert [f.index for f in held] == [f.index for f in one] == list(range(len(frames)))
    assert sizes_one == [1] * len(frames)
    # frames leave in groups of ``hold`` (the rest at the end), never one call per frame
    assert all(n in (0, hold) for n in sizes) and sum(sizes) == len(frames) - len(frames) % hold
    faces_in_frames = sum(KEEP)
    assert sum(batches) >= faces_in_frames and len(batches) < len([k for k in KEEP if k])
    assert set(batches) <= {1, 2, 4, 8, 16}  # bins only: nothing re-planned as face counts change
    for a, b in zip(one, held, strict=True):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces, strict=True):
            assert fa.fake_reason == fb.fake_reason
            assert (fa.fake is None) == (fb.fake is None)
            if fa.fake is not None:
                assert abs(fa.fake - fb.fake) < 1e-5


def test_deepfake_batch_frames_is_one_in_a_live_graph(frames: list[Frame]) -> None:
    logs: list[str] = []
    stage = Deepfake(
        "fake", Deepfake.Params(threads=1, batch_frames=4), RunContext(mode="live", log=logs.append)
    )
    stage.open()
    _, sizes = run_stage(stage, frames[:4])
    assert sizes == [1, 1, 1, 1] and any("batch_frames: 4 ignored in a live graph" in m for m in logs)


@pytest.fixture(scope="module")
def gallery(frames: list[Frame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two people enrolled from frame 0 with the shipped embedder."""
    from streamer.faces.embed import Embedder

    embedder = Embedder(ROOT / "models" / "embedder.onnx", threads=1)
    emb = embedder.embed(frames[0].image, frames[0].faces)
    g = Gallery(embedder.embedder_id, embedder="models/embedder.onnx", threshold=embedder.threshold)
    g.add("left", emb[0:1])
    g.add("right", emb[1:2])
    return g.save(tmp_path_factory.mktemp("gallery") / "two.json")


@pytest.mark.parametrize("hold", [4, 5])
def test_verify_batched_across_frames_names_every_face_as_frame_by_frame(
    frames: list[Frame], gallery: Path, hold: int
) -> None:
    def stage(**params: object) -> Verify:
        s = Verify(
            "who",
            Verify.Params(
                model=str(ROOT / "models" / "embedder.onnx"), gallery=str(gallery), threads=1, **params
            ),  # type: ignore[arg-type]
            RunContext(mode="offline"),
        )
        s.open()
        return s

    one, _ = run_stage(stage(), frames)
    batched = stage(batch_frames=hold)
    batches = _record_batches(batched)
    held, _ = run_stage(batched, frames)
    assert {f.identity for f in one[0].faces} == {"left", "right"}  # real faces told apart
    assert set(batches) <= {1, 2, 4, 8, 16} and len(batches) <= -(-len(frames) // hold) + 1
    for a, b in zip(one, held, strict=True):
        assert a.index == b.index
        assert [f.identity for f in a.faces] == [f.identity for f in b.faces]
        for fa, fb in zip(a.faces, b.faces, strict=True):
            assert abs(fa.distance - fb.distance) < 1e-5
