"""The deepfake detector's training data: manipulations are deterministic and local, crops match
the runtime's, and the quick training run writes a working model with its card."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.data import opencv_doc
from export.data.faces import Photo, astronaut_photo, hopper_photo
from export.data.manipulations import MANIPULATIONS, degrade, face_crop, h264, manipulate, normalise
from streamer.geometry import aligned_crop

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pair() -> tuple[Photo, Photo]:
    return normalise(astronaut_photo(), 110), normalise(hopper_photo(), 110)


def _far_from_face(photo: Photo, factor: float = 1.6) -> np.ndarray:
    """bool [H, W]: pixels outside the face box enlarged ``factor`` times about its centre."""
    h, w = photo.image.shape[:2]
    x1, y1, x2, y2 = photo.box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    yy, xx = np.mgrid[0:h, 0:w]
    return (np.abs(xx - cx) > hw) | (np.abs(yy - cy) > hh)


@pytest.mark.parametrize("kind", MANIPULATIONS)
def test_manipulations_are_deterministic_per_seed(kind: str, pair: tuple[Photo, Photo]) -> None:
    target, donor = pair
    a = manipulate(kind, target, donor, np.random.default_rng(3))
    b = manipulate(kind, target, donor, np.random.default_rng(3))
    c = manipulate(kind, target, donor, np.random.default_rng(4))
    assert a.shape == target.image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, target.image)  # it really changed something


@pytest.mark.parametrize("kind", MANIPULATIONS)
def test_manipulations_change_the_face_only(kind: str, pair: tuple[Photo, Photo]) -> None:
    target, donor = pair
    for seed in range(3):
        out = manipulate(kind, target, donor, np.random.default_rng(seed))
        far = _far_from_face(target)
        diff = np.abs(out.astype(int) - target.image.astype(int)).max(axis=2)
        if kind in ("swap", "blend"):
            assert diff[far].max() == 0, f"{kind} seed {seed}: pixels far from the face changed"
        else:  # warps and compression may bleed slightly; nothing visible far away
            assert diff[far].mean() < 0.5
        x1, y1, x2, y2 = (int(v) for v in target.box)
        assert diff[y1:y2, x1:x2].mean() > 1.0, f"{kind} seed {seed}: the face barely changed"


def test_face_crop_is_the_runtime_crop(pair: tuple[Photo, Photo]) -> None:
    target, _ = pair
    want = aligned_crop(target.image, target.box, 112, margin=0.25, eyes=target.eyes)[0]
    assert np.array_equal(face_crop(target), want)
    noisy = face_crop(target, np.random.default_rng(0))
    assert noisy.shape == (112, 112, 3) and not np.array_equal(noisy, want)


def test_degrade_scales_the_face_and_is_deterministic(pair: tuple[Photo, Photo]) -> None:
    target, _ = pair
    a = degrade(target, 45, np.random.default_rng(1))
    b = degrade(target, 45, np.random.default_rng(1))
    assert np.array_equal(a.image, b.image) and a.box == b.box
    x1, y1, x2, y2 = a.box
    assert max(x2 - x1, y2 - y1) == pytest.approx(45, abs=0.5)
    assert a.image.shape[0] < target.image.shape[0] / 2
    # faces already smaller than asked are not enlarged
    assert degrade(target, 400, np.random.default_rng(1)).image.shape == target.image.shape


def test_quality_is_shared_by_a_pair_so_only_the_face_differs(pair: tuple[Photo, Photo]) -> None:
    """Real and manipulated pictures degraded with the same draws: alike far from the face
    (compression spreads a little), different on it."""
    target, donor = pair
    for seed in range(4):
        fake = Photo(manipulate("swap", target, donor, np.random.default_rng(seed)), target.box, target.eyes)
        a = degrade(target, 45, np.random.default_rng([seed, 1]))
        b = degrade(fake, 45, np.random.default_rng([seed, 1]))
        diff = np.abs(a.image.astype(int) - b.image.astype(int)).max(axis=2)
        far = _far_from_face(a)
        assert diff[far].mean() < 2.0 and diff[~far].mean() > 3 * max(diff[far].mean(), 0.5)


def test_h264_keeps_the_picture_and_loses_detail(pair: tuple[Photo, Photo]) -> None:
    img = pair[0].image[:101, :99]  # odd sizes are padded for 4:2:0 and cut back
    low, high = h264(img, 45), h264(img, 18)
    assert low.shape == img.shape and low.dtype == np.uint8
    err = lambda x: np.abs(x.astype(int) - img.astype(int)).mean()  # noqa: E731
    assert err(high) < 3 and err(high) < err(low) < 15


def test_unknown_manipulation_and_missing_donor_are_errors(pair: tuple[Photo, Photo]) -> None:
    target, _ = pair
    with pytest.raises(ValueError, match="expected one of"):
        manipulate("morph", target, None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs a donor"):
        manipulate("swap", target, None, np.random.default_rng(0))


def test_training_sets_are_balanced_and_reproducible() -> None:
    from export.train_deepfake import TRAIN_TYPES, make_set

    pool = {"photo": [("astronaut", astronaut_photo()), ("grace_hopper", hopper_photo())]}
    n = 2 * len(TRAIN_TYPES)
    x1, y1, t1 = make_set(pool, n, TRAIN_TYPES, seed=5, stream=0)
    x2, y2, t2 = make_set(pool, n, TRAIN_TYPES, seed=5, stream=0)
    assert np.array_equal(x1, x2) and np.array_equal(t1, t2)
    assert y1.tolist() == [0, 1] * len(TRAIN_TYPES)
    assert sorted(set(t1[y1 > 0].tolist())) == sorted(MANIPULATIONS.index(k) for k in TRAIN_TYPES)
    assert (t1[y1 == 0] == -1).all()


def test_training_sets_say_whose_face_each_crop_shows() -> None:
    """``people``: per crop (person, donor); reals and the one-face manipulations have no donor,
    swaps another person's face, and asking for it leaves the crops as they were."""
    from export.train_deepfake import make_set

    pool = {"photo": [("astronaut", astronaut_photo()), ("grace_hopper", hopper_photo())]}
    kinds = ("swap", "selfblend")
    people: list[tuple[str, str | None]] = []
    x, _, t = make_set(pool, 8, kinds, seed=5, stream=0, people=people)
    assert np.array_equal(x, make_set(pool, 8, kinds, seed=5, stream=0)[0])
    assert len(people) == 8 and all(p in ("astronaut", "grace_hopper") for p, _ in people)
    for (person, donor), kind in zip(people, t.tolist(), strict=True):
        if kind == MANIPULATIONS.index("swap"):
            assert donor in ("astronaut", "grace_hopper") and donor != person
        else:
            assert donor is None


def test_heldout_pictures_show_no_one_the_net_trains_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The held-out set measures detection on unseen people: two_people.mp4 also shows the
    astronaut, whom training sees in one_face.mp4 and her photo, so her faces are left out of it
    (and with them every pair using her as a donor). The drawn and rendered faces, whose names
    (``syn_``, ``cg_``) cannot reach the held-out clips, are skipped for speed."""
    import export.train_deepfake as td

    monkeypatch.setattr(td, "_synthetic", lambda ks: [])
    monkeypatch.setattr(td, "_rendered", lambda ks: [])
    train = {person for group in td.train_pool(4).values() for person, _ in group}
    held = td.heldout_pool(4)
    shown = {person for group in held.values() for person, _ in group}
    assert "astronaut" in train and td.trained_people() <= train
    assert not shown & train, f"held-out pictures show trained people: {sorted(shown & train)}"
    assert "grace_hopper" in shown and held["clip"], "the held-out clips lost their unseen faces too"


def test_threshold_is_set_on_the_faces_the_stage_judges() -> None:
    from export.train_deepfake import JUDGED_MIN_FACE
    from streamer.stages.deepfake import DEFAULT_MIN_FACE

    assert JUDGED_MIN_FACE == DEFAULT_MIN_FACE


@pytest.mark.slow
@pytest.mark.skipif(not opencv_doc.available(), reason="Debian's opencv-doc is not installed")
def test_quick_run_writes_a_model_and_card(tmp_path: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "df.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "export", "deepfake", "--quick", "--out", str(out), "--seed", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["family"] == "deepfake" and meta["task"] == "face-manipulation"
    assert meta["streamer_format"] == "1" and meta["threshold"] == "0.5"
    x = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    (prob,) = session.run(["fake_prob"], {"image": x})
    assert prob.shape == (3,) and prob.dtype == np.float32 and ((prob >= 0) & (prob <= 1)).all()
    card = out.with_suffix(".md").read_text()
    assert "ROC AUC, held-out pictures" in card and "--quick" in card


def test_rendered_heads_are_deterministic_shaded_faces() -> None:
    """CG characters (real class): same rng, same picture; eyes inside the face box, image-left
    first; the face is shaded (a smooth 3D gradient, not a flat fill) and differs from seed to seed."""
    from export.data.rendered import CANVAS, render_head

    a = render_head(np.random.default_rng([3, 1]))
    b = render_head(np.random.default_rng([3, 1]))
    c = render_head(np.random.default_rng([3, 2]))
    assert np.array_equal(a.image, b.image) and a.box == b.box and a.eyes == b.eyes
    assert a.image.shape == (CANVAS, CANVAS, 3) and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, c.image)
    for photo in (a, c):
        x1, y1, x2, y2 = photo.box
        assert 0 <= x1 < x2 <= CANVAS and 0 <= y1 < y2 <= CANVAS and x2 - x1 > 40
        (lx, ly), (rx, ry) = photo.eyes
        assert lx < rx and all(x1 < x < x2 and y1 < y < y2 for x, y in photo.eyes)
        face = photo.image[int(y1) : int(y2), int(x1) : int(x2)].astype(np.float32).mean(2)
        assert face.std() > 8  # lit and shaded, not one colour
        # the crop the runtime would cut holds the face: it is as large as the detector's view
        crop = face_crop(photo)
        assert crop.shape == (112, 112, 3)
