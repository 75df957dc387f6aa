"""verify stage (identity + distance, batching, per-track smoothing, errors) and translate `only`.

The test embedder (tests/helpers_onnx.py ``embedding``) maps a crop to its mean colour, so
"people" here are colours: a face on a red patch is "red", on a blue patch "blue", on grey nobody.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.errors import GraphError, StreamerError
from streamer.faces.embed import Embedder
from streamer.faces.gallery import Gallery, GalleryError
from streamer.frame import Face, Frame
from streamer.graph import validate_params
from streamer.stages.base import STAGES, RunContext, load_all
from streamer.stages.translate import Translate
from streamer.stages.verify import Verify
from tests import helpers_onnx as H
from tests.unit.stages.conftest import make_frame

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (128, 128, 128)
BOX_L = (20.0, 20.0, 60.0, 60.0)  # crop (margin 0.25) covers x, y in [10, 70)
BOX_R = (100.0, 20.0, 140.0, 60.0)  # crop covers x in [90, 150)
THRESHOLD = 0.05


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return H.embedding(tmp_path_factory.mktemp("verify_model") / "embed.onnx")


def _solid(color: tuple[int, int, int]) -> np.ndarray:
    return np.full((1, 64, 64, 3), color, np.uint8)


@pytest.fixture(scope="module")
def gallery(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    emb = Embedder(model, threads=1)
    g = Gallery(emb.embedder_id, embedder=str(model), threshold=THRESHOLD)
    g.add("red", emb.embed_crops(_solid(RED)))
    g.add("blue", emb.embed_crops(_solid(BLUE)))
    return g.save(tmp_path_factory.mktemp("verify_gallery") / "gallery.json")


def _image(left: tuple[int, int, int], right: tuple[int, int, int] = GREY) -> np.ndarray:
    image = np.full((120, 160, 3), 90, np.uint8)
    image[0:80, 0:80] = left
    image[0:80, 80:160] = right
    return image


def _frame(
    index: int,
    left: tuple[int, int, int],
    right: tuple[int, int, int] = GREY,
    *,
    tracks: bool = True,
    faces: int = 2,
) -> Frame:
    boxes = (BOX_L, BOX_R)[:faces]
    fs = [Face(box=b, score=0.9, track_id=(i + 1 if tracks else None)) for i, b in enumerate(boxes)]
    return make_frame(index, image=_image(left, right), faces=fs)


def _stage(model: Path, gallery: Path, logs: list[str] | None = None, **params: object) -> Verify:
    ctx = RunContext(log=(logs.append if logs is not None else lambda _m: None))
    stage = Verify("who", Verify.Params(gallery=str(gallery), model=str(model), threads=1, **params), ctx)
    stage.open()
    return stage


def test_registered_and_documented() -> None:
    load_all()
    assert STAGES["verify"] is Verify
    for key, field in Verify.Params.model_fields.items():
        assert field.description, key


def test_identity_and_distance(model: Path, gallery: Path) -> None:
    logs: list[str] = []
    stage = _stage(model, gallery, logs)
    assert stage.threshold == THRESHOLD  # from the gallery
    assert "2 people, threshold 0.05" in logs[0]
    frame = _frame(0, RED, BLUE, tracks=False)
    out = stage.process(frame)
    assert [f.identity for f in out.faces] == ["red", "blue"]
    assert all(f.distance is not None and 0.0 <= f.distance < 1e-4 for f in out.faces)
    assert frame.faces[0].identity is None  # input frame untouched
    out = stage.process(_frame(1, GREY, RED, tracks=False))
    assert out.faces[0].identity is None and out.faces[0].distance > THRESHOLD  # grey: nobody, distance kept
    assert out.faces[1].identity == "red"
    assert out.faces[0].to_json()["identity"] is None and out.faces[1].to_json()["identity"] == "red"


def test_one_batched_model_call_per_frame(
    model: Path, gallery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = _stage(model, gallery)
    calls: list[tuple[int, ...]] = []
    real = stage.embedder.model.run_raw

    def counting(feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        calls.append(next(iter(feeds.values())).shape)
        return real(feeds, outputs)

    monkeypatch.setattr(stage.embedder.model, "run_raw", counting)
    stage.process(_frame(0, RED, BLUE))
    assert calls == [(2, 64, 64, 3)]


def test_no_faces_passes_unchanged(model: Path, gallery: Path) -> None:
    stage = _stage(model, gallery)
    frame = make_frame(0)
    assert stage.process(frame) is frame


def test_track_keeps_identity_through_a_one_frame_flip(model: Path, gallery: Path) -> None:
    stage = _stage(model, gallery, smooth=5)
    raw = _stage(model, gallery, smooth=1)
    colors = [RED, RED, RED, BLUE, RED, RED]  # frame 3: the raw decision flips to blue
    smoothed, plain = [], []
    for i, c in enumerate(colors):
        smoothed.append(stage.process(_frame(i, c, faces=1)).faces[0])
        plain.append(raw.process(_frame(i, c, faces=1)).faces[0])
    assert [f.identity for f in plain] == ["red", "red", "red", "blue", "red", "red"]
    assert [f.identity for f in smoothed] == ["red"] * 6
    # the smoothed distance is the window's mean distance to "red": raised on the bad frame
    assert smoothed[3].distance > smoothed[2].distance and smoothed[3].distance < plain[3].distance + 1
    # a lasting change does win after a majority of the window
    later = [stage.process(_frame(6 + i, BLUE, faces=1)).faces[0].identity for i in range(4)]
    assert later == ["red", "blue", "blue", "blue"]  # window: 3 blue of 5 on the second frame


def test_faces_without_track_are_not_smoothed(model: Path, gallery: Path) -> None:
    stage = _stage(model, gallery, smooth=5)
    got = [
        stage.process(_frame(i, c, tracks=False, faces=1)).faces[0].identity
        for i, c in enumerate([RED, RED, BLUE, RED])
    ]
    assert got == ["red", "red", "blue", "red"]


def test_tracks_are_forgotten(model: Path, gallery: Path) -> None:
    stage = _stage(model, gallery, forget=3)
    for i in range(5):
        f = _frame(i, RED, faces=1)
        stage.process(f.replace(faces=(f.faces[0].replace(track_id=100 + i),)))
    assert len(stage._tracks) <= 4
    stage.process(make_frame(20))  # a frame without faces also ages the tracks
    assert stage._tracks == {}


def test_threshold_param_overrides(model: Path, gallery: Path) -> None:
    stage = _stage(model, gallery, threshold=1.5)
    out = stage.process(_frame(0, GREY, GREY, tracks=False))
    assert all(f.identity is not None for f in out.faces)  # everyone is somebody at 1.5


def test_empty_gallery(model: Path, tmp_path: Path) -> None:
    emb = Embedder(model)
    path = Gallery(emb.embedder_id, threshold=0.3).save(tmp_path / "empty.json")
    stage = _stage(model, path)
    out = stage.process(_frame(0, RED, BLUE))
    assert all(f.identity is None and f.distance is None for f in out.faces)


def test_gallery_from_other_embedder(model: Path, tmp_path: Path) -> None:
    path = Gallery("someone-else", threshold=0.3).save(tmp_path / "g.json")
    with pytest.raises(GalleryError) as err:
        _stage(model, path)
    msg = str(err.value)
    assert "made by embedder someone-else" in msg and "\n" not in msg


def test_missing_gallery_and_model(model: Path, gallery: Path, tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="gallery not found"):
        _stage(model, tmp_path / "none.json")
    with pytest.raises(StreamerError, match="model file not found"):
        _stage(tmp_path / "none.onnx", gallery)


def test_no_threshold_anywhere(model: Path, tmp_path: Path) -> None:
    emb = Embedder(model)
    path = Gallery(emb.embedder_id).save(tmp_path / "g.json")
    with pytest.raises(StreamerError, match="no threshold"):
        _stage(model, path)


def test_params_validation() -> None:
    with pytest.raises(ValidationError):
        Verify.Params(gallery="g.json", smooth=0)
    with pytest.raises(ValidationError):
        Verify.Params(gallery="g.json", mean=[1.0, 2.0])
    p = Verify.Params(gallery="g.json", mean=127.5, std=127.5, providers="cpu")
    assert p.mean == [127.5] and p.providers == ["cpu"]


# --------------------------------------------------------------------------- translate `only`


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return H.ours(tmp_path_factory.mktemp("only_style") / "style.onnx")


def _translate(style: Path, only: str) -> Translate:
    stage = Translate(
        "style",
        Translate.Params(model=str(style), region="faces", only=only, size=64),
        RunContext(log=lambda _m: None),
    )
    stage.open()
    return stage


def _changed(a: np.ndarray, b: np.ndarray, box: tuple[float, ...]) -> float:
    x1, y1, x2, y2 = (int(v) for v in box)
    return float(np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2]).mean())


@pytest.mark.parametrize(
    ("only", "left_changes", "right_changes"),
    [("all", True, True), ("enrolled", True, False), ("unknown", False, True)],
)
def test_translate_only(style: Path, only: str, left_changes: bool, right_changes: bool) -> None:
    frame = make_frame(
        0,
        width=160,
        height=120,
        faces=[
            Face(box=BOX_L, score=0.9, identity="red", distance=0.01),
            Face(box=BOX_R, score=0.9, identity=None, distance=0.6),
        ],
    )
    out = _translate(style, only).process(frame)
    assert out.translated is True
    assert (_changed(out.image, frame.image, BOX_L) > 3) == left_changes
    assert (_changed(out.image, frame.image, BOX_R) > 3) == right_changes
    if not right_changes:
        np.testing.assert_array_equal(out.image[:, 90:], frame.image[:, 90:])  # untouched, bit for bit


def test_translate_only_nobody_selected(style: Path) -> None:
    logs: list[str] = []
    stage = Translate(
        "style",
        Translate.Params(model=str(style), region="faces", only="enrolled"),
        RunContext(log=logs.append),
    )
    stage.open()
    frame = make_frame(0, faces=[Face(box=BOX_L, score=0.9)])
    out = stage.process(frame)
    assert out.translated is True and out.image is frame.image
    stage.process(make_frame(1, faces=[Face(box=BOX_L, score=0.9)]))
    warnings = [m for m in logs if "no face carries a verify result" in m]
    assert len(warnings) == 1  # said once, not per frame


def test_translate_only_needs_region_faces() -> None:
    with pytest.raises(GraphError) as err:
        validate_params(Translate, {"model": "m.onnx", "only": "enrolled"}, "g.yaml: stage 'style'")
    msg = str(err.value)
    assert "only: enrolled needs region: faces" in msg and "\n" not in msg
    assert Translate.Params(model="m.onnx").only == "all"
