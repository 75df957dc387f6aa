from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from streamer.errors import StreamerError
from streamer.frame import Frame
from streamer.stages.base import RunContext
from streamer.stages.predict import Predict
from tests import helpers_onnx as H
from tests.unit.stages.conftest import PTS_PER_FRAME, make_frame, make_stream

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained predictor (its flow is the built-in Lucas-Kanade estimate), exported like ours."""
    from export.nets.predictor import FramePredictor
    from export.onnx_io import set_metadata
    from export.train_predictor import export_onnx

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("predict") / "predictor.onnx"
    export_onnx(FramePredictor().eval(), path)
    meta = {"family": "predictor", "task": "frame-prediction", "streamer_format": "1"}
    set_metadata(
        path, {**meta, "size_multiple": "16", "state_channels": "32", "state_scale": "16", "input_scale": "4"}
    )
    return path


def _stage(model: Path, **params: object) -> Predict:
    stage = Predict(
        "fill", Predict.Params(model=str(model), threads=1, **params), RunContext(log=lambda _m: None)
    )
    stage.open()
    return stage


def _raw(i: int, width: int = 160, height: int = 96) -> np.ndarray:
    """A real photo panned 2 px right per frame."""
    astro = data.astronaut()
    return np.ascontiguousarray(astro[100 : 100 + height, 300 - 2 * i : 300 - 2 * i + width])


def _styl(image: np.ndarray) -> np.ndarray:
    return 255 - image


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def _run(stage: Predict, frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for f in frames:
        out.extend(stage.process(f))
    out.extend(stage.flush())
    stage.close()
    return out


def _every2(n: int) -> list[Frame]:
    """What translate `every: 2` passes on: stylized even frames, raw odd frames marked False."""
    frames = []
    for i in range(n):
        raw = _raw(i)
        if i % 2 == 0:
            frames.append(make_frame(i, image=_styl(raw), translated=True, audio=(f"a{i}",)))
        else:
            frames.append(make_frame(i, image=raw, translated=False, audio=(f"a{i}",)))
    return frames


def test_every2_fills_every_frame_in_order_with_continuous_pts(predictor: Path) -> None:
    stage = _stage(predictor)
    out = _run(stage, _every2(10))
    assert [f.index for f in out] == list(range(10))
    assert [f.pts for f in out] == [i * PTS_PER_FRAME for i in range(10)]
    assert stage.counters == {"predicted": 5, "repeated": 0, "faces_unfilled": 0}
    for f in out:
        assert f.translated is True
        assert f.image.shape == (96, 160, 3)
        assert f.audio == (f"a{f.index}",)  # every frame really came from upstream: audio kept
        assert f.predicted == (f.index % 2 == 1)


def test_predicted_pictures_follow_the_motion_in_the_stylized_domain(predictor: Path) -> None:
    stage = _stage(predictor)
    out = _run(stage, _every2(12))
    gains = []
    for f in out[3::2]:  # odd frames after the first pair: raw t-2 -> t gives the motion
        truth = _styl(_raw(f.index))
        repeat = out[f.index - 1].image
        gains.append(_psnr(f.image, truth) - _psnr(repeat, truth))
    assert np.mean(gains) > 1.0, gains
    # the prediction is a stylized picture, not the raw one it was given
    assert _psnr(out[5].image, _styl(_raw(5))) > _psnr(out[5].image, _raw(5)) + 10


def test_live_gaps_are_filled_with_interpolated_pts_and_no_audio(predictor: Path) -> None:
    stage = _stage(predictor)
    indices = [0, 1, 4, 5, 9]
    frames = [make_frame(i, image=_styl(_raw(i)), translated=True, audio=(f"a{i}",)) for i in indices]
    out = _run(stage, frames)
    assert [f.index for f in out] == list(range(10))
    assert [f.pts for f in out] == [i * PTS_PER_FRAME for i in range(10)]
    assert stage.counters == {"predicted": 5, "repeated": 0, "faces_unfilled": 0}
    for f in out:
        if f.index in indices:
            assert f.audio == (f"a{f.index}",) and not f.predicted
        else:
            assert f.audio == () and f.predicted is True and f.faces == ()


def test_dropped_frames_are_extrapolated_from_the_last_two_stylized_ones(predictor: Path) -> None:
    stage = _stage(predictor)
    frames = [make_frame(i, image=_styl(_raw(i)), translated=True) for i in range(0, 16, 3)]
    out = _run(stage, frames)
    gains = []
    for f in out:
        if f.index > 3 and f.index % 3:  # after two real frames: a motion to extrapolate
            truth = _styl(_raw(f.index))
            gains.append(_psnr(f.image, truth) - _psnr(out[f.index - f.index % 3].image, truth))
    assert len(gains) == 8 and np.mean(gains) > 1.0, gains


def test_uneven_pts_of_a_gap_are_interpolated_and_rounded(predictor: Path) -> None:
    stage = _stage(predictor)
    a = make_frame(0, image=_raw(0))
    b = make_frame(3, image=_raw(3)).replace(pts=1000)
    out = _run(stage, [a, b])
    assert [f.pts for f in out] == [0, 333, 667, 1000]


def test_max_gap_repeats_the_last_output_and_counts_it(predictor: Path) -> None:
    stage = _stage(predictor, max_gap=2)
    frames = [make_frame(0, image=_raw(0)), make_frame(6, image=_raw(6))]
    out = _run(stage, frames)
    assert [f.index for f in out] == list(range(7))
    assert stage.counters == {"predicted": 2, "repeated": 3, "faces_unfilled": 0}
    assert np.array_equal(out[3].image, out[2].image) and np.array_equal(out[5].image, out[2].image)
    assert not np.array_equal(out[6].image, out[5].image)  # the real frame is back


def test_max_gap_counts_consecutive_untranslated_frames_too(predictor: Path) -> None:
    stage = _stage(predictor, max_gap=1)
    frames = [make_frame(i, image=_raw(i), translated=(i % 3 == 0)) for i in range(7)]  # every: 3
    out = _run(stage, frames)
    assert len(out) == 7
    assert stage.counters == {"predicted": 2, "repeated": 2, "faces_unfilled": 0}


def test_lead_in_drops_are_repeats_and_nothing_is_invented_after_the_last_frame(predictor: Path) -> None:
    stream = make_stream(160, 96, frame_count=9)  # a run stopped after frame 5 (--max-frames)
    frames = [make_frame(i, image=_raw(i)).replace(stream=stream) for i in (2, 3, 5)]
    stage = _stage(predictor)
    out = _run(stage, frames)
    assert [f.index for f in out] == list(range(6))
    assert [f.pts for f in out] == [i * PTS_PER_FRAME for i in range(6)]
    # 4 predicted; 0, 1 repeat frame 2
    assert stage.counters == {"predicted": 1, "repeated": 2, "faces_unfilled": 0}
    assert np.array_equal(out[0].image, out[2].image)


def test_frame_size_padding_is_cropped_back(predictor: Path) -> None:
    stage = _stage(predictor)
    frames = [make_frame(i, image=_raw(i, 150, 90), translated=(i % 2 == 0)) for i in range(4)]
    out = _run(stage, frames)
    assert all(f.image.shape == (90, 150, 3) for f in out)


def test_an_image_model_is_refused_with_a_one_line_error(tmp_path: Path) -> None:
    path = H.ours(tmp_path / "style.onnx")
    with pytest.raises(StreamerError, match="not a frame predictor"):
        _stage(path)


# ---------------------------------------------------------------------------------------------
# Faces path: translate region faces, every 2, on the real 720p clip with the project's models

ROOT = Path(__file__).resolve().parents[3]
FACE_MODEL = ROOT / "models" / "face_drawing.onnx"
PREDICTOR = ROOT / "models" / "predictor.onnx"
needs_models = pytest.mark.skipif(
    not (FACE_MODEL.exists() and PREDICTOR.exists()), reason="models/face_drawing.onnx, predictor.onnx"
)


@pytest.fixture(scope="module")
def clip_faces() -> list[Frame]:
    """The first 12 frames of samples/one_face.mp4 through face_detect, as in the graphs (the
    detector's boxes and eyes jitter from frame to frame, which the faces path must cope with)."""
    import av

    from streamer.stages.face_detect import FaceDetect

    detect = FaceDetect("faces", FaceDetect.Params(), RunContext(log=lambda _m: None))
    detect.open()
    frames = []
    with av.open(str(ROOT / "samples" / "one_face.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 12:
                break
            frames.append(detect.process(make_frame(i, image=f.to_ndarray(format="rgb24"))))
    detect.close()
    assert all(len(f.faces) == 1 and f.faces[0].track_id is not None for f in frames)
    return frames


def _translate(frames: list[Frame], every: int) -> list[Frame]:
    from streamer.stages.translate import Translate

    st = Translate(
        "style",
        Translate.Params(model=str(FACE_MODEL), region="faces", every=every, threads=2),
        RunContext(log=lambda _m: None),
    )
    st.open()
    out = [st.process(f) for f in frames]
    st.close()
    return out


def _paste_footprint(footprint: np.ndarray, m: np.ndarray, size: int = 256) -> None:
    """Marks (1.0) every pixel a paste of a ``size`` crop with matrix ``m`` may touch."""
    import cv2

    inv = cv2.invertAffineTransform(m)
    ones = np.ones((size, size), np.float32)
    h, w = footprint.shape
    footprint += cv2.warpAffine(ones, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    np.clip(np.ceil(footprint), 0, 1, out=footprint)


def _box_psnr(a: np.ndarray, b: np.ndarray, box: tuple[float, ...]) -> float:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return _psnr(a[y1:y2, x1:x2], b[y1:y2, x1:x2])


@needs_models
def test_faces_path_predicts_only_the_faces(clip_faces: list[Frame]) -> None:
    """A skipped frame keeps its own picture outside the face crop; inside, the predicted face is
    closer to what translating that frame gives than repeating the last frame or the raw face."""

    truth = _translate(clip_faces, 1)
    stage = _stage(PREDICTOR)
    out = _run(stage, _translate(clip_faces, 2))
    assert [f.index for f in out] == list(range(12)) and all(f.translated for f in out)
    assert stage.counters == {"predicted": 6, "repeated": 0, "faces_unfilled": 0}
    gains = []
    for f in out[1::2]:
        raw, want = clip_faces[f.index].image, truth[f.index].image
        assert f.predicted is True and f.faces == clip_faces[f.index].faces
        # outside the crop windows of this frame and the one before, the picture is the source's
        footprint = np.zeros(raw.shape[:2], np.float32)
        for k in (f.index - 1, f.index):
            (m,) = truth[k].face_crops.matrices
            _paste_footprint(footprint, m)
        assert 0.05 < footprint.mean() < 0.4  # the windows cover the face, not the frame
        np.testing.assert_array_equal(f.image[footprint == 0], raw[footprint == 0])
        box = f.faces[0].box
        pred = _box_psnr(f.image, want, box)
        gains.append(pred - _box_psnr(out[f.index - 1].image, want, box))  # vs repeating the frame
        assert pred > _box_psnr(raw, want, box) + 5.0  # the face really is a drawing (measured 8-9.5)
    assert min(gains) > 0.5 and np.mean(gains) > 2.0, gains  # measured 0.9-6.1 dB, mean 3.2
    # the crops translate left are what predict filled from (none on skipped frames' styled side)
    skipped = _translate(clip_faces[:2], 2)[1]
    geometry = skipped.face_crops
    assert skipped.translated is False and geometry.styled is None and geometry.raw is None
    assert geometry.size == 256 and geometry.track_ids == truth[1].face_crops.track_ids
    np.testing.assert_array_equal(geometry.matrices[0], truth[1].face_crops.matrices[0])
    assert truth[1].face_crops.raw[0].shape == (256, 256, 3)


@needs_models
def test_faces_path_new_track_on_a_skipped_frame_is_left_raw_and_counted(clip_faces: list[Frame]) -> None:
    seq = _translate(clip_faces[:4], 2)
    # frame 3: the same face now carries another track id (the tracker lost and found it)
    face = seq[3].faces[0]
    other = face.__class__(**{**face.__dict__, "track_id": 7})
    crops = seq[3].face_crops
    crops = crops.__class__(**{**crops.__dict__, "track_ids": (7,)})
    seq[3] = seq[3].replace(faces=(other,), face_crops=crops)
    stage = _stage(PREDICTOR)
    out = _run(stage, seq)
    assert stage.counters == {"predicted": 2, "repeated": 0, "faces_unfilled": 1}
    np.testing.assert_array_equal(out[3].image, clip_faces[3].image)


@needs_models
def test_faces_path_max_gap_repastes_the_last_crop(clip_faces: list[Frame]) -> None:
    seq = _translate(clip_faces[:8], 4)  # frames 1-3 and 5-7 skipped
    stage = _stage(PREDICTOR, max_gap=1)
    out = _run(stage, seq)
    assert len(out) == 8
    assert stage.counters == {"predicted": 2, "repeated": 4, "faces_unfilled": 0}
    # a repeat still moves the drawn face with the face: the frame is not the previous one
    assert not np.array_equal(out[2].image, out[1].image)


@needs_models
def test_faces_path_live_gaps_repeat_the_last_output(clip_faces: list[Frame]) -> None:
    """Frames that never reached predict (live drops) have no picture to paste faces into."""
    seq = _translate(clip_faces[:6], 1)
    arrived = [seq[0], seq[1], seq[4], seq[5]]  # 2 and 3 dropped upstream
    stage = _stage(PREDICTOR)
    out = _run(stage, arrived)
    assert [f.index for f in out] == list(range(6))
    assert [f.pts for f in out] == [i * PTS_PER_FRAME for i in range(6)]
    assert stage.counters == {"predicted": 0, "repeated": 2, "faces_unfilled": 0}
    assert np.array_equal(out[2].image, seq[1].image) and np.array_equal(out[3].image, seq[1].image)
    assert out[2].audio == () and out[2].predicted is True
