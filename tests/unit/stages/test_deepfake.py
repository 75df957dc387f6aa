"""deepfake stage: real crops through the committed model, batching, per-track smoothing, foreign
classifiers through params, one-line model errors, and the model's separation on held-out frames."""

from __future__ import annotations

import json
import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from streamer.frame import Face, Frame
from streamer.onnx_model import ModelError
from streamer.stages.base import RunContext
from streamer.stages.deepfake import Deepfake, is_fake, to_fake_prob
from tests.unit.stages.conftest import make_stream

REPO = Path(__file__).resolve().parents[3]
MODEL = Path(os.environ.get("DEEPFAKE_TEST_MODEL", REPO / "models" / "deepfake.onnx"))
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason="models/deepfake.onnx not built")


def make_stage(**params: object) -> Deepfake:
    params.setdefault("model", str(MODEL))
    stage = Deepfake("fake", Deepfake.Params(**params), RunContext(quiet=True, log=lambda m: None))
    stage.open()
    return stage


@pytest.fixture(scope="module")
def clip() -> list[tuple[np.ndarray, list[dict]]]:
    """Eight frames of samples/two_people.mp4 (both people) with their true faces."""
    import av

    truth = json.loads((REPO / "samples" / "two_people.faces.json").read_text())["frames"]
    by_frame = {f["frame"]: f["faces"] for f in truth}
    out = []
    with av.open(str(REPO / "samples" / "two_people.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % 15 == 0 and by_frame.get(i):
                out.append((frame.to_ndarray(format="rgb24"), by_frame[i]))
            if len(out) == 8:
                break
    return out


def _frame(image: np.ndarray, faces: list[dict], index: int = 0, track: bool = False) -> Frame:
    fs = tuple(
        Face(
            box=tuple(f["box"]),
            score=0.9,
            keypoints=tuple(map(tuple, f["eyes"])),
            track_id=k if track else None,
        )
        for k, f in enumerate(faces)
    )
    stream = make_stream(image.shape[1], image.shape[0])
    return Frame(
        image=image, index=index, pts=index * 512, time_base=Fraction(1, 15360), stream=stream, faces=fs
    )


@needs_model
def test_real_crops_give_probabilities(clip: list) -> None:
    stage = make_stage(threads=2)
    image, faces = clip[0]
    out = stage.process(_frame(image, faces))
    assert len(out.faces) == 2
    for face, src in zip(out.faces, faces, strict=True):
        assert face.fake is not None and 0.0 <= face.fake <= 1.0
        assert face.box == tuple(float(v) for v in src["box"])
    assert out.fake_threshold == 0.5  # the committed model's metadata
    assert np.array_equal(out.image, image)  # the picture is not changed


@needs_model
def test_frame_without_faces_passes_unchanged(clip: list) -> None:
    stage = make_stage()
    frame = _frame(clip[0][0], [])
    assert stage.process(frame) is frame


@needs_model
def test_batch_equals_one_by_one(clip: list) -> None:
    stage = make_stage(threads=2)
    crops = np.concatenate([stage.crops(_frame(im, fs)) for im, fs in clip[:3]])
    together = stage.classify(crops)
    single = np.array([stage.classify(crops[i : i + 1])[0] for i in range(len(crops))])
    np.testing.assert_allclose(together, single, atol=1e-5)
    chunked = make_stage(threads=2, batch=2).classify(crops)
    np.testing.assert_allclose(chunked, together, atol=1e-5)


@needs_model
def test_smoothing_is_per_track_and_bounded(clip: list) -> None:
    stage = make_stage(smooth=3, forget=2, confirm=1, release=0.0)  # no hysteresis: plain scores
    raw = [stage.classify(stage.crops(_frame(im, fs))) for im, fs in clip[:5]]
    got = [stage.process(_frame(im, fs, index=i, track=True)) for i, (im, fs) in enumerate(clip[:5])]
    for i in range(5):
        for k in range(2):
            want = np.mean([raw[j][k] for j in range(max(0, i - 2), i + 1)])
            assert got[i].faces[k].fake == pytest.approx(want, abs=1e-6)
    # without track ids: the per-frame value
    unsmoothed = stage.process(_frame(*clip[4], index=5))
    np.testing.assert_allclose([f.fake for f in unsmoothed.faces], raw[4], atol=1e-6)
    # tracks not seen for `forget` frames are dropped
    stage.process(_frame(clip[0][0], [], index=20))
    assert stage._tracks == {}


def _scripted(stage: Deepfake, probs: list[float]) -> list[int]:
    """Make ``stage.classify`` return ``probs`` in turn (one per crop); returns the crop counts seen."""
    seen: list[int] = []
    it = iter(probs)

    def classify(crops: np.ndarray) -> np.ndarray:
        seen.append(len(crops))
        return np.array([next(it) for _ in range(len(crops))])

    stage.classify = classify  # type: ignore[method-assign]
    return seen


def _face(side: float, track: int | None) -> Face:
    return Face(box=(10.0, 10.0, 10.0 + side, 10.0 + side), score=0.9, track_id=track)


@needs_model
def test_hysteresis_confirms_holds_and_releases() -> None:
    """A track turns fake after `confirm` detections at or above the threshold (abstaining while
    pending), stays fake down to threshold - release, then turns real and must confirm again."""
    stage = make_stage(smooth=1, confirm=3, release=0.1, threshold=0.5)
    probs = [0.2, 0.7, 0.7, 0.7, 0.45, 0.41, 0.3, 0.7, 0.45]
    _scripted(stage, probs)
    image = np.zeros((120, 160, 3), np.uint8)
    got = [
        stage.process(_frame(image, [], index=i).replace(faces=(_face(80, 7),))).faces[0] for i in range(9)
    ]
    fakes = [f.fake for f in got]
    words = [f.fake_reason.split(":")[0] if f.fake_reason else None for f in got]
    calls = [is_fake(f, 0.5) for f in got]
    assert fakes == [0.2, None, None, 0.7, 0.45, 0.41, 0.3, None, 0.45]
    assert words == [None, "pending", "pending", None, "held", "held", None, "pending", None]
    assert calls == [False, None, None, True, True, True, False, None, False]
    assert stage.counters["flagged"] == 3 and stage.counters["abstained"] == 3


@needs_model
def test_small_faces_abstain_without_running_the_model() -> None:
    stage = make_stage(min_face=40, confirm=1)
    seen = _scripted(stage, [0.9, 0.1])
    image = np.zeros((200, 200, 3), np.uint8)
    faces = (_face(39, 1), _face(40, 2), _face(120, None))
    out = stage.process(_frame(image, []).replace(faces=faces))
    assert seen == [2]  # only the two faces of 40 px and more were classified
    small, edge, big = out.faces
    assert small.fake is None and small.fake_reason == "small: face 39 px < min_face 40 px"
    assert (edge.fake, edge.fake_reason, big.fake, big.fake_reason) == (0.9, None, 0.1, None)
    assert stage.counters["abstained"] == 1 and stage.counters["flagged"] == 1
    # a frame of only small faces does not call the model at all
    only_small = stage.process(_frame(image, [], index=1).replace(faces=(_face(20, 1),)))
    assert only_small.faces[0].fake is None and seen == [2]


@needs_model
def test_model_separates_real_from_manipulated_held_out_frames(clip: list) -> None:
    """Real faces of two_people.mp4 (never trained on) against manipulated versions of the same frames."""
    from export.data.faces import Photo
    from export.data.manipulations import face_crop, manipulate, normalise
    from export.train_deepfake import roc_auc

    stage = make_stage(threads=2)
    reals, fakes = [], []
    kinds = ("swap", "generator", "blend", "reencode")  # the trained types (warp is held out: see the card)
    for i, (image, faces) in enumerate(clip):
        people = [Photo(image, tuple(f["box"]), tuple(map(tuple, f["eyes"]))) for f in faces]
        for k, person in enumerate(people):
            target, donor = normalise(person, 120), normalise(people[1 - k], 120)
            reals.append(face_crop(target))
            rng = np.random.default_rng([i, k])
            fake = manipulate(kinds[(2 * i + k) % len(kinds)], target, donor, rng)
            fakes.append(face_crop(Photo(fake, target.box, target.eyes)))
    score = stage.classify(np.stack(reals + fakes))
    labels = np.array([0] * len(reals) + [1] * len(fakes))
    assert score[labels == 0].mean() < score[labels == 1].mean()
    assert roc_auc(score, labels) > 0.8


# ----------------------------------------------------------------------------- foreign models


class TwoLogit(nn.Module):
    """float NCHW (normalised) -> [N, 2] logits [real, fake]; 'fake' grows with the red channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0].mean((1, 2))
        return torch.stack([-red, 2 * red + x[:, 2].mean((1, 2))], 1)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("df") / "two_logit.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TwoLogit(),
            (torch.zeros(1, 3, 64, 64),),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def test_foreign_two_logit_model_through_params(foreign: Path) -> None:
    mean, std = 127.5, 64.0
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = (200, 40, 90)  # left face reddish, right face bluish
    image[:, 80:] = (30, 60, 220)
    faces = [
        {"box": [20, 30, 60, 80], "eyes": [[32, 45], [48, 45]]},
        {"box": [100, 30, 140, 80], "eyes": [[112, 45], [128, 45]]},
    ]
    for order, index in (("rgb", 1), ("bgr", 1), ("rgb", 0)):
        stage = make_stage(model=str(foreign), mean=mean, std=std, channel_order=order, output_index=index)
        assert stage.size == 64  # the model's fixed input size
        crops = stage.crops(_frame(image, faces))
        x = crops.astype(np.float32)
        x = x[..., ::-1] if order == "bgr" else x
        x = ((x - mean) / std).transpose(0, 3, 1, 2)
        logits = TwoLogit()(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        e = np.exp(logits - logits.max(1, keepdims=True))
        want = (e / e.sum(1, keepdims=True))[:, index]
        got = stage.process(_frame(image, faces))
        np.testing.assert_allclose([f.fake for f in got.faces], want, atol=1e-5)
    assert (
        make_stage(model=str(foreign), mean=mean, std=std).process(_frame(image, faces)).faces[0].fake > 0.5
    )


class OneLogit(nn.Module):
    """float NCHW (ImageNet-normalised) -> [N, 1] logits that grow with the red channel: a stand-in for
    a public single-logit detector (EfficientNet on FaceForensics++ style)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (3 * x[:, 0].mean((1, 2)) - 1)[:, None]


def test_foreign_single_logit_model_gets_the_same_tracks_hysteresis_and_abstentions(
    tmp_path: Path,
) -> None:
    """The README's recipe for a stronger public detector: size, per-channel mean/std, sigmoid. Its
    scores go through the same smoothing, hysteresis and minimum face size as ours."""
    path = tmp_path / "one_logit.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            OneLogit(),
            (torch.zeros(1, 3, 96, 96),),
            str(path),
            input_names=["input"],
            output_names=["logit"],
            dynamic_axes={"input": {0: "N"}, "logit": {0: "N"}},
            opset_version=17,
            dynamo=False,
        )
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    stage = make_stage(model=str(path), mean=mean, std=std, activation="sigmoid", confirm=2, smooth=1)
    assert stage.size == 96
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :150] = (220, 60, 60)  # a red face (fake for this model), a grey one (real)
    image[:, 150:] = (90, 90, 90)
    faces = (
        Face(box=(30.0, 40.0, 110.0, 130.0), score=0.9, track_id=1),
        Face(box=(180.0, 40.0, 260.0, 130.0), score=0.9, track_id=2),
        Face(box=(200.0, 150.0, 230.0, 180.0), score=0.9, track_id=3),  # 30 px: too small to judge
    )
    crops = stage.crops(_frame(image, []).replace(faces=faces[:2]))
    x = (crops.astype(np.float32) - np.array(mean, np.float32)) / np.array(std, np.float32)
    want = torch.sigmoid(OneLogit()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))).numpy()[:, 0]
    assert want[0] > 0.5 > want[1]
    first, second = (stage.process(_frame(image, [], index=i).replace(faces=faces)).faces for i in range(2))
    assert first[0].fake is None and first[0].fake_reason.startswith("pending: 1 of 2")
    assert second[0].fake == pytest.approx(want[0], abs=1e-5) and is_fake(second[0], stage.threshold)
    assert first[1].fake == pytest.approx(want[1], abs=1e-5) and is_fake(first[1], stage.threshold) is False
    assert first[2].fake is None and first[2].fake_reason.startswith("small:")


def test_foreign_float_model_without_mean_std_is_a_one_line_error(foreign: Path) -> None:
    with pytest.raises(ModelError, match="set mean and std") as e:
        make_stage(model=str(foreign))
    assert "\n" not in str(e.value)
    with pytest.raises(ModelError, match="output_index 5"):
        make_stage(model=str(foreign), mean=127.5, std=127.5, output_index=5)


def test_to_fake_prob_rules() -> None:
    np.testing.assert_allclose(
        to_fake_prob(np.array([0.2, 0.9], np.float32), 2, output_index=None), [0.2, 0.9]
    )
    np.testing.assert_allclose(
        to_fake_prob(np.array([[-2.0], [3.0]]), 2, output_index=None), 1 / (1 + np.exp([2.0, -3.0]))
    )
    probs = np.array([[0.3, 0.7], [0.9, 0.1]])
    np.testing.assert_allclose(
        to_fake_prob(probs, 2, output_index=None), [0.7, 0.1]
    )  # already a distribution
    np.testing.assert_allclose(
        to_fake_prob(probs, 2, output_index=0, activation="softmax"),
        np.exp(probs[:, 0]) / np.exp(probs).sum(1),
    )
    with pytest.raises(ModelError, match="one number per face"):
        to_fake_prob(np.zeros(2), 2, output_index=1)


def test_missing_and_corrupt_models_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found") as e:
        make_stage(model=str(tmp_path / "nope.onnx"))
    assert "\n" not in str(e.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model at all")
    with pytest.raises(ModelError, match="not a valid ONNX model") as e:
        make_stage(model=str(bad))
    assert "\n" not in str(e.value)


def test_params_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Deepfake.Params(threshold=1.5)
    with pytest.raises(ValidationError):
        Deepfake.Params(mean=[1, 2])
    with pytest.raises(ValidationError):
        Deepfake.Params(smooth=0)
    with pytest.raises(ValidationError):
        Deepfake.Params(confirm=0)
    with pytest.raises(ValidationError):
        Deepfake.Params(min_face=-1)
    with pytest.raises(ValidationError):
        Deepfake.Params(unknown=1)
