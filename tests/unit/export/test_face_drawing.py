"""The face_drawing CycleGAN: drawing filters, unpaired data, the trainer's CLI, and the committed models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.data import drawings
from export.data.drawings import STYLES, DrawingData, draw, heldout_pairs, plain_crop
from export.data.faces import clip_crops, real_photo
from export.train_face_drawing import (
    NAMES,
    edge_density,
    flat_baseline,
    l1,
    ort_session,
    patch_discriminator,
    run_onnx,
    saturation,
)
from tests.unit.export.conftest import REPO

MODELS = REPO / "models"
A2B = MODELS / "face_drawing.onnx"
B2A = MODELS / "face_drawing_BtoA.onnx"
needs_models = pytest.mark.skipif(
    not (A2B.exists() and B2A.exists()), reason="models/face_drawing*.onnx not trained yet"
)


# --------------------------------------------------------------------------------------------------
# Drawing filters and data


@pytest.fixture(scope="module")
def hopper_crop() -> np.ndarray:
    return plain_crop(real_photo("grace_hopper"), 128)


@pytest.mark.parametrize("style", STYLES)
def test_filters_are_deterministic_drawings(style: str, hopper_crop: np.ndarray) -> None:
    a, b = draw(hopper_crop, style), draw(hopper_crop.copy(), style)
    assert a.dtype == np.uint8 and a.shape == hopper_crop.shape
    np.testing.assert_array_equal(a, b)
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(draw(hopper_crop, style, r1), draw(hopper_crop, style, r2))
    assert l1(a, hopper_crop) > 0.05  # it is not the photo
    if style != "cartoon":  # pencil and line art are grey
        assert saturation(a) < 0.01 < saturation(hopper_crop)


def test_xdog_is_ink_on_paper(hopper_crop: np.ndarray) -> None:
    out = drawings.xdog(hopper_crop)[..., 0]
    assert np.mean(out > 200) > 0.4  # mostly paper
    assert np.mean(out < 50) > 0.05  # with ink lines


def test_unknown_style_is_an_error(hopper_crop: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected one of pencil, xdog, cartoon"):
        draw(hopper_crop, "watercolour")


def test_samples_are_pure_functions_of_seed_domain_index() -> None:
    d1, d2 = DrawingData(0), DrawingData(0)
    for dom in ("A", "B"):
        np.testing.assert_array_equal(d1.sample(dom, 3, 64), d2.sample(dom, 3, 64))
        assert not np.array_equal(d1.sample(dom, 3, 64), d1.sample(dom, 4, 64))
    assert not np.array_equal(DrawingData(1).sample("A", 3, 64), d1.sample("A", 3, 64))
    batch = d1.batch("B", start=0, count=6, size=64)
    assert batch.shape == (6, 64, 64, 3) and batch.dtype == np.uint8


def test_domains_use_disjoint_photos() -> None:
    sets = [
        set(drawings.LFW_A),
        set(drawings.LFW_B),
        set(drawings.LFW_HELDOUT_A),
        set(drawings.LFW_HELDOUT_B),
    ]
    assert sum(len(s) for s in sets) == len(set().union(*sets)) == 100
    names = {dom: {s.name for s in drawings.domain_sources(dom)} for dom in ("A", "B")}
    assert names["A"].isdisjoint(names["B"])
    ids_a = {id(p.image) for s in drawings.domain_sources("A") for p in s.photos}
    ids_b = {id(p.image) for s in drawings.domain_sources("B") for p in s.photos}
    assert ids_a.isdisjoint(ids_b)


def test_patch_discriminator_scores_70px_patches() -> None:
    import torch

    d = patch_discriminator(ndf=8)
    assert d(torch.zeros(2, 3, 128, 128)).shape == (2, 1, 14, 14)


# --------------------------------------------------------------------------------------------------
# The CLI end to end (a few training steps)


@pytest.mark.slow
def test_quick_run_exports_two_valid_models(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "export", "face-drawing", "--quick", "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    crops = heldout_pairs(64)[0][:2]
    for name in NAMES.values():
        path = tmp_path / name
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["family"] == "cyclegan" and meta["streamer_format"] == "1"
        out = run_onnx(ort_session(path), crops)
        assert out.shape == crops.shape and out.dtype == np.uint8
    assert (tmp_path / "face_drawing.md").read_text().startswith("# face_drawing")
    assert (tmp_path / "face_drawing_sheet.png").stat().st_size > 1000


def test_missing_out_dir_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "export", "face-drawing", "--quick", "--out-dir", str(tmp_path / "nope")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr


# --------------------------------------------------------------------------------------------------
# The committed models


@pytest.fixture(scope="module")
def heldout() -> dict[str, np.ndarray]:
    a, b = heldout_pairs(256)
    colour = np.stack(
        [clip_crops("two_people", p, 2)[i] for p in ("astronaut", "grace_hopper") for i in range(2)]
    )
    import cv2

    colour = np.stack([cv2.resize(c, (256, 256), interpolation=cv2.INTER_CUBIC) for c in colour])
    return {"a": a, "b": b, "colour": colour}


@needs_models
def test_committed_models_follow_the_contract() -> None:
    for path in (A2B, B2A):
        model = onnx.load(str(path))
        assert [i.name for i in model.graph.input] == ["image"]
        meta = {p.key: p.value for p in model.metadata_props}
        assert (
            meta["family"] == "cyclegan" and meta["preferred_size"] == "256" and meta["size_multiple"] == "4"
        )
        assert path.stat().st_size < 5_000_000


@needs_models
def test_photo_to_drawing_moves_toward_the_drawing_domain(heldout: dict[str, np.ndarray]) -> None:
    s = ort_session(A2B)
    colour = heldout["colour"]  # people of two_people.mp4, a clip training never reads
    drawn = run_onnx(s, colour)
    assert saturation(drawn) < 0.6 * saturation(colour)
    a = heldout["a"]  # held-out LFW faces
    fake_b = run_onnx(s, a)
    assert edge_density(fake_b) > 1.3 * edge_density(a)
    assert l1(fake_b, a) > 0.04  # it changed them, visibly


@needs_models
def test_cycle_reconstructs_better_than_a_flat_image(heldout: dict[str, np.ndarray]) -> None:
    """Baseline: each image replaced by its own mean colour (what a model that forgot the face would give)."""
    s_ab, s_ba = ort_session(A2B), ort_session(B2A)
    for x in (heldout["a"], heldout["colour"]):
        rec = run_onnx(s_ba, run_onnx(s_ab, x))
        assert l1(rec, x) < 0.75 * l1(flat_baseline(x), x)
    b = heldout["b"]
    rec_b = run_onnx(s_ab, run_onnx(s_ba, b))
    assert l1(rec_b, b) < l1(flat_baseline(b), b)


@needs_models
def test_translate_faces_changes_only_the_face_region() -> None:
    import av

    from streamer.frame import Face
    from streamer.geometry import square_box
    from streamer.stages.base import RunContext
    from streamer.stages.translate import Translate
    from tests.unit.stages.conftest import make_frame

    truth = json.loads((REPO / "samples" / "one_face.faces.json").read_text())["frames"]
    stage = Translate("style", Translate.Params(model=str(A2B), region="faces", threads=2), RunContext())
    stage.open()
    with av.open(str(REPO / "samples" / "one_face.mp4")) as c:
        for i, vf in enumerate(c.decode(video=0)):
            if i not in (0, 60):
                continue
            img = vf.to_ndarray(format="rgb24")
            face = truth[i]["faces"][0]
            kps = tuple(tuple(e) for e in face["eyes"])
            frame = make_frame(i, image=img, faces=[Face(box=tuple(face["box"]), score=0.9, keypoints=kps)])
            out = stage.process(frame).image
            h, w = img.shape[:2]
            x1, y1, x2, y2 = square_box(face["box"], 0.25, w, h)
            diag = (x2 - x1) * 0.21  # a rotated square reaches at most sqrt(2)/2 of its side past its centre
            changed = np.any(out != img, axis=2)
            ys, xs = np.nonzero(changed)
            assert xs.min() >= x1 - diag and xs.max() <= x2 + diag
            assert ys.min() >= y1 - diag and ys.max() <= y2 + diag
            fx1, fy1, fx2, fy2 = (int(v) for v in face["box"])
            assert changed[fy1:fy2, fx1:fx2].mean() > 0.8  # the face itself is redrawn
            inner = out[fy1:fy2, fx1:fx2]
            assert saturation(inner[None]) < saturation(img[fy1:fy2, fx1:fx2][None])
            if i == 60:
                break


@needs_models
def test_card_and_sheet() -> None:
    card = (MODELS / "face_drawing.md").read_text()
    for needle in ("python -m export face-drawing", "A → B → A", "B → A → B", "ms", "held out", "Limits"):
        assert needle in card
    assert "QUICK" not in card
    sheet = MODELS / "face_drawing_sheet.png"
    assert 1000 < sheet.stat().st_size < 400_000
