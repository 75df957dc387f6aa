"""enroll: photos → averaged gallery entry; bad photos, models and galleries give one-line errors.

Most tests give the faces through ``detect`` (a fake detector), so they test enrolment alone;
the tests marked ``real detector`` use streamer.faces.detect when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from streamer.enroll import EnrollError, largest_face, read_rgb, run_enroll
from streamer.errors import StreamerError
from streamer.faces.embed import Embedder
from streamer.faces.gallery import Gallery, GalleryError
from streamer.frame import Face
from tests.unit.faces.test_embed import build_ours

FACE = Face(box=(170.0, 40.0, 270.0, 160.0), score=0.9, keypoints=((200.0, 90.0), (245.0, 88.0)))
SMALL = Face(box=(20.0, 300.0, 60.0, 340.0), score=0.95)
HAS_DETECTOR = importlib.util.find_spec("streamer.faces.detect") is not None


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ours(tmp_path_factory.mktemp("enroll_model") / "embedder.onnx")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("enroll_photos")
    astro = data.astronaut()
    paths = {"astronaut": d / "astronaut.jpg", "flipped": d / "flipped.png", "coffee": d / "coffee.jpg"}
    cv2.imwrite(str(paths["astronaut"]), cv2.cvtColor(astro, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["flipped"]), cv2.cvtColor(np.ascontiguousarray(astro[:, ::-1]), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["coffee"]), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    bad = d / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg at all")
    paths["broken"] = bad
    return paths


def _fake(*faces: Face):  # noqa: ANN202 - a detector stand-in
    return lambda _image: list(faces)


def test_one_photo(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    gallery = tmp_path / "g.json"
    line = run_enroll(gallery, "astronaut", [photos["astronaut"]], model, detect=_fake(FACE))
    assert line.startswith("enrolled 'astronaut' from 1 image in ") and "threshold 0.4" in line
    g = Gallery.load(gallery, expected_embedder_id="test-siamese-1")
    assert g.names == ["astronaut"] and g.threshold == pytest.approx(0.4)
    assert g.people[0].sources == [str(photos["astronaut"])] and g.embedder == str(model)
    # the entry is the embedding of exactly that face in that photo
    expected = Embedder(model).embed(read_rgb(photos["astronaut"]), [FACE])[0]
    np.testing.assert_allclose(g.people[0].embedding, expected, atol=1e-5)


def test_several_photos_are_averaged_names_add_up_or_replace(
    model: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    gallery = tmp_path / "g.json"
    flipped_face = Face(box=(512 - 270.0, 40.0, 512 - 170.0, 160.0), score=0.9)
    emb = Embedder(model)
    a = emb.embed(read_rgb(photos["astronaut"]), [FACE])[0]
    b = emb.embed(read_rgb(photos["flipped"]), [flipped_face])[0]
    faces = iter([[FACE], [flipped_face]])
    line = run_enroll(
        gallery,
        "astronaut",
        [photos["astronaut"], photos["flipped"]],
        model,
        0.3,
        detect=lambda _i: next(faces),
    )
    assert "from 2 images (averaged)" in line and "threshold 0.3" in line
    g = Gallery.load(gallery)
    mean = (a + b) / np.linalg.norm(a + b)
    np.testing.assert_allclose(g.people[0].embedding, mean, atol=1e-5)
    assert g.people[0].images == 2
    # a second person, then the first again: added to her average (3 photos, a counted twice)
    run_enroll(gallery, "other", [photos["coffee"]], model, detect=_fake(SMALL))
    line = run_enroll(gallery, "astronaut", [photos["astronaut"]], model, detect=_fake(FACE))
    assert line.startswith("added to 'astronaut'") and "now 3 images averaged" in line and "2 people" in line
    g = Gallery.load(gallery)
    total = 2 * mean + a  # the stored average stands for its 2 photos
    np.testing.assert_allclose(g.people[0].embedding, total / np.linalg.norm(total), atol=1e-5)
    assert g.people[0].images == 3 and len(g.people[0].sources) == 3
    # --replace: only the new photo, the other person and the threshold kept
    line = run_enroll(gallery, "astronaut", [photos["astronaut"]], model, detect=_fake(FACE), replace=True)
    assert line.startswith("replaced 'astronaut'") and "2 people" in line
    g = Gallery.load(gallery)
    assert g.names == ["astronaut", "other"] and g.threshold == pytest.approx(0.3)
    np.testing.assert_allclose(g.people[0].embedding, a, atol=1e-5)


def test_largest_face_is_used_and_reported(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    logs: list[str] = []
    run_enroll(
        tmp_path / "g.json", "x", [photos["astronaut"]], model, detect=_fake(SMALL, FACE), log=logs.append
    )
    assert len(logs) == 1 and "2 faces, using the largest (box 170, 40, 270, 160)" in logs[0]
    single = Embedder(model).embed(read_rgb(photos["astronaut"]), [FACE])[0]
    np.testing.assert_allclose(Gallery.load(tmp_path / "g.json").people[0].embedding, single, atol=1e-5)
    assert largest_face([SMALL], "p") is SMALL


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert isinstance(err.value, StreamerError) and "\n" not in msg
    return msg


def test_no_face(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EnrollError) as err:
        run_enroll(tmp_path / "g.json", "x", [photos["coffee"]], model, detect=_fake())
    assert f"no face found in {photos['coffee']}" in _one_line(err)
    assert not (tmp_path / "g.json").exists()  # nothing written


def test_unreadable_and_missing_image(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EnrollError) as err:
        run_enroll(tmp_path / "g.json", "x", [photos["broken"]], model, detect=_fake(FACE))
    assert f"cannot read image {photos['broken']}" in _one_line(err)
    with pytest.raises(EnrollError) as err:
        run_enroll(tmp_path / "g.json", "x", [tmp_path / "nope.jpg"], model, detect=_fake(FACE))
    assert "image not found" in _one_line(err)


def test_missing_model(photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(StreamerError) as err:
        run_enroll(
            tmp_path / "g.json", "x", [photos["astronaut"]], tmp_path / "none.onnx", detect=_fake(FACE)
        )
    msg = _one_line(err)
    assert "model file not found" in msg and "none.onnx" in msg


def test_gallery_of_other_embedder_or_corrupt(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    other = Gallery("another-embedder", threshold=0.5).save(tmp_path / "other.json")
    with pytest.raises(GalleryError) as err:
        run_enroll(other, "x", [photos["astronaut"]], model, detect=_fake(FACE))
    assert "made by embedder another-embedder" in _one_line(err)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "streamer-gallery/1", "embedder_id": ')
    with pytest.raises(GalleryError) as err:
        run_enroll(corrupt, "x", [photos["astronaut"]], model, detect=_fake(FACE))
    assert "not valid JSON" in _one_line(err)
    assert json.loads(other.read_text())["people"] == []  # files left as they were


def test_bad_arguments(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EnrollError, match="--name is empty"):
        run_enroll(tmp_path / "g.json", "  ", [photos["astronaut"]], model, detect=_fake(FACE))
    with pytest.raises(EnrollError, match="no images given"):
        run_enroll(tmp_path / "g.json", "x", [], model, detect=_fake(FACE))
    with pytest.raises(EnrollError, match="--threshold"):
        run_enroll(tmp_path / "g.json", "x", [photos["astronaut"]], model, -1.0, detect=_fake(FACE))


def test_model_without_threshold_needs_one(photos: dict[str, Path], tmp_path: Path) -> None:
    model = build_ours(tmp_path / "nothr.onnx", meta={"threshold": ""})
    with pytest.raises(GalleryError, match="give one with --threshold"):
        run_enroll(tmp_path / "g.json", "x", [photos["astronaut"]], model, detect=_fake(FACE))
    assert "threshold 0.5" in run_enroll(
        tmp_path / "g.json", "x", [photos["astronaut"]], model, 0.5, detect=_fake(FACE)
    )


@pytest.mark.skipif(not HAS_DETECTOR, reason="streamer.faces.detect (face detection) not installed yet")
def test_real_detector_no_face_on_coffee(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EnrollError) as err:
        run_enroll(tmp_path / "g.json", "x", [photos["coffee"]], model)
    assert "no face found in" in _one_line(err)


@pytest.mark.skipif(not HAS_DETECTOR, reason="streamer.faces.detect (face detection) not installed yet")
def test_real_detector_finds_astronaut(model: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    line = run_enroll(tmp_path / "g.json", "astronaut", [photos["astronaut"]], model)
    assert line.startswith("enrolled 'astronaut'")
