"""dlib's chips from our own landmarks: the geometry, and the same decisions as dlib's own pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.faces.align import CHIP_TEMPLATE, chip_matrix, face_chips, similarity


def test_similarity_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    a, k, t = math.radians(17), 0.63, np.array([12.0, -40.0])
    rot = k * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    dst = src @ rot.T + t
    m = similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-7)


def test_keypoints_on_the_template_give_the_template_chip() -> None:
    # a face twice the chip's scale, turned 10 degrees: its chip puts the points back on the template
    a = math.radians(10)
    rot = 2.0 * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    kps = CHIP_TEMPLATE @ rot.T + np.array([300.0, 120.0])
    m = chip_matrix([*kps.tolist(), [0, 0], [0, 0]])  # ears are ignored
    np.testing.assert_allclose(kps @ m[:, :2].T + m[:, 2], CHIP_TEMPLATE, atol=1e-9)
    with pytest.raises(ValueError, match="4 BlazeFace keypoints"):
        chip_matrix(kps[:2].tolist())


def test_a_picture_through_its_own_chip_is_itself() -> None:
    img = np.random.default_rng(1).integers(0, 256, (150, 150, 3), np.uint8)
    chip = face_chips(img, [((0, 0, 150, 150), CHIP_TEMPLATE.tolist())])[0]
    assert np.array_equal(chip, img)


def test_our_chips_give_dlibs_decisions_on_real_people() -> None:
    """dlib's pipeline (HOG detector + 5 landmarks + get_face_chip) vs ours (BlazeFace keypoints +
    our chip) on real photos and the carphone clip, both through the exported descriptor: the same
    person-or-unknown decision for every face against a gallery of the three people, and embeddings
    within cosine 0.97 of each other."""
    from tests.face_models import dlib_model, face_embedder, need

    need("dlib")
    import dlib

    from export.export_dlib import CHIP_PADDING, real_pictures
    from streamer.faces.detect import FaceDetector
    from streamer.faces.embed import Embedder

    emb = Embedder(face_embedder(), threads=2)
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(str(dlib_model("shape_predictor_5_face_landmarks.dat")))
    ours = FaceDetector(range="full")
    pictures = real_pictures()  # astronaut, Grace Hopper, 6 frames of carphone
    theirs_emb, ours_emb = [], []
    try:
        for pic in pictures:
            up = 2 if max(pic.shape[:2]) < 300 else 1
            big = np.ascontiguousarray(np.repeat(np.repeat(pic, up, 0), up, 1))
            rects = list(detector(big, 1))
            faces = ours.detect(pic)
            assert len(rects) >= 1 and len(faces) >= 1
            chip = np.asarray(dlib.get_face_chip(big, shapes(big, rects[0]), size=150, padding=CHIP_PADDING))
            theirs_emb.append(emb.embed_crops(chip[None])[0])
            best = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            ours_emb.append(emb.embed(pic, [best])[0])
    finally:
        ours.close()
    t, o = np.stack(theirs_emb), np.stack(ours_emb)
    assert (t * o).sum(1).min() > 0.97
    gallery = t[:3]  # astronaut, Hopper and the carphone man as dlib enrolls them
    threshold = emb.threshold
    assert threshold is not None

    def decide(x: np.ndarray) -> list[int]:
        d = 1.0 - x @ gallery.T
        return [int(i) if d[j, i] < threshold else -1 for j, i in enumerate(d.argmin(1))]

    assert decide(o) == decide(t) == [0, 1, 2, 2, 2, 2, 2, 2]
