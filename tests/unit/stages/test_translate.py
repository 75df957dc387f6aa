from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from skimage import data

from streamer.frame import Face
from streamer.geometry import aligned_crop, paste_back
from streamer.onnx_model import ModelError, OnnxModel
from streamer.stages.base import STAGES, RunContext, load_all
from streamer.stages.translate import Translate
from tests import helpers_onnx as H
from tests.unit.stages.conftest import make_frame


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("translate_models")
    return {
        "ours": H.ours(d / "ours.onnx"),
        "mult4": H.multiple(d / "mult4.onnx"),
        "foreign": H.foreign(d / "foreign.onnx"),
    }


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def _stage(logs: list[str] | None = None, ctx: RunContext | None = None, **params: object) -> Translate:
    ctx = ctx or RunContext(log=(logs.append if logs is not None else lambda _m: None))
    stage = Translate("style", Translate.Params(**params), ctx)
    stage.open()
    return stage


def test_registered() -> None:
    load_all()
    assert STAGES["translate"] is Translate


def test_frame_region_equals_model(models: dict[str, Path], astronaut: np.ndarray) -> None:
    logs: list[str] = []
    stage = _stage(logs, model=str(models["ours"]))
    frame = make_frame(0, image=astronaut)
    before = astronaut.copy()
    out = stage.process(frame)
    assert out.translated is True
    direct = OnnxModel(models["ours"]).run(astronaut[None])[0]
    np.testing.assert_array_equal(out.image, direct)
    assert np.abs(out.image.astype(int) - astronaut).mean() > 5
    np.testing.assert_array_equal(frame.image, before)  # input not mutated
    assert frame.translated is None
    assert len(logs) == 1 and logs[0].startswith(f"style: {models['ours']} on CPUExecutionProvider")


def test_size_runs_smaller_and_scales_back(models: dict[str, Path], astronaut: np.ndarray) -> None:
    stage = _stage(model=str(models["ours"]), size=128)
    out = stage.process(make_frame(0, image=astronaut))
    assert out.image.shape == astronaut.shape
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    expect = cv2.resize(
        OnnxModel(models["ours"]).run(small[None])[0], (512, 512), interpolation=cv2.INTER_LINEAR
    )
    np.testing.assert_array_equal(out.image, expect)
    full = _stage(model=str(models["ours"])).process(make_frame(0, image=astronaut)).image
    assert np.abs(out.image.astype(int) - full).mean() > 1  # really ran at a lower resolution


def test_size_rounds_to_the_multiple(models: dict[str, Path]) -> None:
    stage = _stage(model=str(models["mult4"]), size=90)
    assert stage.run_size(160, 120) == (88, 68)  # 90 -> 88 (x4); 67.5 -> 68
    assert stage.run_size(120, 160) == (68, 88)
    out = stage.process(make_frame(0, 160, 120))
    assert out.image.shape == (120, 160, 3)
    unsized = _stage(model=str(models["mult4"]))
    assert unsized.run_size(161, 99) == (161, 99)
    assert unsized.process(make_frame(0, 161, 99)).image.shape == (99, 161, 3)  # padded inside


def test_every_marks_skipped_frames(models: dict[str, Path]) -> None:
    stage = _stage(model=str(models["ours"]), every=3)
    frames = [make_frame(i, 64, 48) for i in range(7)]
    outs = [stage.process(f) for f in frames]
    assert [o.translated for o in outs] == [True, False, False, True, False, False, True]
    for f, o in zip(frames, outs, strict=True):
        if o.translated:
            assert not np.array_equal(o.image, f.image)
        else:
            assert o.image is f.image
    assert stage.counters["skipped"] == 4


def test_faces_change_only_the_face_region(models: dict[str, Path], astronaut: np.ndarray) -> None:
    box = (170.0, 80.0, 250.0, 160.0)  # the astronaut's face; square (150, 60)-(270, 180)
    stage = _stage(model=str(models["ours"]), region="faces", size=120, feather=0.1)
    frame = make_frame(0, image=astronaut, faces=[Face(box=box, score=0.9)])
    out = stage.process(frame)
    assert out.translated is True and out.faces == frame.faces
    changed = np.any(out.image != astronaut, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 60 and ys.max() < 180 and xs.min() >= 150 and xs.max() < 270
    assert changed[100:140, 190:230].mean() > 0.9  # the face itself is translated
    np.testing.assert_array_equal(out.image[200:], astronaut[200:])  # far away: untouched
    # it is exactly crop → model → feathered paste
    crop, m = aligned_crop(astronaut, box, 120, margin=0.25)
    expect = paste_back(astronaut, OnnxModel(models["ours"]).run(crop[None])[0], m, feather=0.1)
    np.testing.assert_array_equal(out.image, expect)


def test_faces_default_crop_size_is_preferred(models: dict[str, Path]) -> None:
    stage = _stage(model=str(models["mult4"]), region="faces")
    assert stage.crop_size == 32  # the model's preferred_size
    assert _stage(model=str(models["mult4"]), region="faces", size=30).crop_size == 32  # x4


def test_faces_with_keypoints_are_aligned(models: dict[str, Path], astronaut: np.ndarray) -> None:
    kps = ((190.0, 110.0), (232.0, 124.0), (210.0, 130.0), (210.0, 145.0))
    face = Face(box=(170.0, 80.0, 250.0, 160.0), score=0.9, keypoints=kps)
    out = _stage(model=str(models["ours"]), region="faces", size=96).process(
        make_frame(0, image=astronaut, faces=[face])
    )
    crop, m = aligned_crop(astronaut, face.box, 96, eyes=(kps[0], kps[1]))
    expect = paste_back(astronaut, OnnxModel(models["ours"]).run(crop[None])[0], m, feather=0.1)
    np.testing.assert_array_equal(out.image, expect)


def test_no_faces_pass_unchanged(models: dict[str, Path]) -> None:
    frame = make_frame(0, 96, 64)
    out = _stage(model=str(models["ours"]), region="faces").process(frame)
    assert out.translated is True and out.image is frame.image


def test_batch_equals_one_at_a_time(models: dict[str, Path]) -> None:
    boxes = [(10, 10, 40, 40), (60, 8, 90, 38), (110, 50, 150, 90), (20, 70, 50, 100)]
    frame = make_frame(0, 160, 120, faces=boxes)
    one = _stage(model=str(models["ours"]), region="faces", size=48, batch=1).process(frame)
    many = _stage(model=str(models["ours"]), region="faces", size=48, batch=3).process(frame)
    assert np.abs(one.image.astype(int) - many.image).max() <= 1
    assert np.any(one.image != frame.image)


def test_foreign_model_through_params_equals_ours(models: dict[str, Path], astronaut: np.ndarray) -> None:
    frame = make_frame(0, image=astronaut)
    ours = _stage(model=str(models["ours"])).process(frame).image
    foreign = _stage(model=str(models["foreign"]), input_range="-1,1", layout="nchw", channel_order="rgb")
    assert foreign.params.input_range == "-1..1"  # the old spelling still works; the contract's is kept
    assert np.abs(foreign.process(frame).image.astype(int) - ours).max() <= 1
    # the same model described as mean/std (the face stages' vocabulary) gives the same picture
    same = _stage(model=str(models["foreign"]), mean=127.5, std=127.5)
    np.testing.assert_array_equal(same.process(frame).image, foreign.process(frame).image)


def test_foreign_params_on_our_model_is_an_error(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="layout given, but this model's metadata fixes them"):
        _stage(model=str(models["ours"]), layout="nchw")


def test_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        _stage(model=str(tmp_path / "missing.onnx"))
    assert "missing.onnx" in str(e.value) and "\n" not in str(e.value)


def test_model_path_relative_to_graph(models: dict[str, Path]) -> None:
    graph = models["ours"].parent / "g.yaml"
    stage = _stage(ctx=RunContext(graph_path=graph, log=lambda _m: None), model="ours.onnx")
    assert stage.model.path == models["ours"]


def test_params_validation() -> None:
    with pytest.raises(ValidationError, match="unknown provider 'gpu'"):
        Translate.Params(model="m.onnx", providers=["gpu"])
    with pytest.raises(ValidationError):
        Translate.Params(model="m.onnx", region="face")
    with pytest.raises(ValidationError):
        Translate.Params(model="m.onnx", every=0)
    with pytest.raises(ValidationError):
        Translate.Params(model="m.onnx", input_range="0,2")
    with pytest.raises(ValidationError):
        Translate.Params(model="m.onnx", colour="x")  # unknown keys are errors
    p = Translate.Params(model="m.onnx", providers=["cuda", "cpu"], input_range="0..255")
    assert p.providers == ["cuda", "cpu"] and p.input_range == "0..255"
    assert Translate.Params(model="m.onnx", input_range="0, 255").input_range == "0..255"
    with pytest.raises(ValidationError, match="give one of them"):
        Translate.Params(model="m.onnx", input_range="0..255", mean=0.0, std=1.0)
    assert Translate.Params(model="m.onnx", providers="cpu").providers == ["cpu"]


def _real_faces() -> list[tuple[np.ndarray, tuple[Face, ...]]]:
    """Real pictures with their BlazeFace faces: the astronaut photo and 3 frames of the carphone clip."""
    import av

    from streamer.faces.detect import FaceDetector
    from tests.real_footage import clip

    pics = [data.astronaut()]
    with av.open(str(clip("carphone"))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in (0, 40, 80):
                pics.append(f.to_ndarray(format="rgb24"))
    det = FaceDetector()
    try:
        out = [(p, tuple(det.detect(p))) for p in pics]
    finally:
        det.close()
    assert all(faces for _, faces in out)
    return out


def _outside_face(stage: Translate, image: np.ndarray, face: Face) -> np.ndarray:
    """bool [H, W]: frame pixels more than 2 crop pixels outside the face ellipse of ``face``."""
    m = stage._geometry(make_frame(image=image, faces=[face]), (face,)).matrices[0]
    ellipse = (stage._mask(face, m) > 0).astype(np.uint8)
    grown = cv2.dilate(ellipse, np.ones((5, 5), np.uint8))
    h, w = image.shape[:2]
    inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
    back = cv2.warpAffine(grown, inv, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    return back == 0


@pytest.mark.parametrize("colors", ["model", "chroma", "match"])
def test_face_mask_changes_nothing_outside_the_face_on_real_faces(colors: str) -> None:
    """The real face_drawing model pasted through the face mask: every pixel outside the face ellipse
    is exactly the source's, while the feathered square would have changed pixels there."""
    model = Path(__file__).resolve().parents[3] / "models" / "face_drawing.onnx"
    face_stage = _stage(model=str(model), region="faces", mask="face", colors=colors, threads=2)
    square = _stage(model=str(model), region="faces", threads=2)
    for image, faces in _real_faces():
        frame = make_frame(image=image, faces=faces)
        out = face_stage.process(frame).image
        outside = np.ones(image.shape[:2], bool)
        for face in faces:
            outside &= _outside_face(face_stage, image, face)
        assert np.array_equal(out[outside], image[outside])
        inside = ~outside
        assert np.abs(out[inside].astype(int) - image[inside]).mean() > 2  # the face was stylized
        sq = square.process(frame).image
        assert (sq[outside] != image[outside]).any()  # the square did reach outside the face
        if colors == "chroma":  # the face keeps its own colours: Cr/Cb within a level or two
            ycc_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[inside][:, 1:].astype(int)
            ycc_src = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[inside][:, 1:].astype(int)
            ycc_sq = cv2.cvtColor(sq, cv2.COLOR_RGB2YCrCb)[inside][:, 1:].astype(int)
            assert np.abs(ycc_out - ycc_src).mean() < 0.5 * np.abs(ycc_sq - ycc_src).mean()


def test_face_mask_is_zero_outside_its_ellipse() -> None:
    from streamer.geometry import face_mask

    kps = np.array([[90, 100], [166, 100], [128, 140], [128, 175], [60, 120], [196, 120]], np.float64)
    m = face_mask(256, kps, None, 0.1)
    assert m.dtype == np.float32 and m.shape == (256, 256)
    assert m[140, 128] == 1.0 and m[0, 0] == 0.0 and m[255, 255] == 0.0 and m[140, 5] == 0.0
    assert 0.0 < m[140, 60:200].min() or m[140, 62] < 1.0  # a ramp towards the sides
    box_only = face_mask(256, None, np.array([50.0, 40.0, 200.0, 230.0]), 0.0)
    assert box_only[135, 125] == 1.0 and box_only[135, 45] == 0.0 and set(np.unique(box_only)) == {0.0, 1.0}
