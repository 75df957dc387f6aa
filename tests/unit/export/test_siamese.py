"""The Siamese face embedder: data generator, loss, export parity, the CLI, and the committed model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export.data import faces
from export.data.faces import FaceData, astronaut_photo, clip_crops, photo_crop, traits
from export.nets.siamese import EmbedNet
from export.train_siamese import Report, export, roc_auc, semihard_triplet_loss
from tests.unit.export.conftest import REPO

MODEL = REPO / "models" / "embedder.onnx"
META_KEYS = {
    "family", "task", "streamer_format", "embedding_dim", "threshold", "preferred_size", "input_size",
    "size_multiple", "input_range", "source", "embedder_id",
}  # fmt: skip


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# --------------------------------------------------------------------------------------------------
# Data


def test_face_boxes_match_make_samples() -> None:
    spec = importlib.util.spec_from_file_location("make_samples", REPO / "samples" / "make_samples.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    assert mod.ASTRONAUT_FACE.box == faces.ASTRONAUT_BOX and mod.ASTRONAUT_FACE.eyes == faces.ASTRONAUT_EYES
    assert mod.HOPPER_FACE.box == faces.HOPPER_BOX and mod.HOPPER_FACE.eyes == faces.HOPPER_EYES


def small_data(seed: int) -> FaceData:
    return FaceData(seed, n_synthetic=6, n_heldout=2, lfw_heldout=2)


def test_generator_is_deterministic() -> None:
    a, b = small_data(0), small_data(0)
    for ident in (a.train[0], a.train[3], a.train_synthetic[2], a.heldout[0], a.heldout[-1]):
        x = a.sample(ident, 5)
        assert x.shape == (112, 112, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, b.sample(ident, 5))
        assert not np.array_equal(x, a.sample(ident, 6))  # another sample of the same identity differs
    ident = a.train_synthetic[1]
    assert not np.array_equal(a.sample(ident, 0), small_data(1).sample(ident, 0))  # the seed matters


def test_synthetic_identities_are_fixed_per_index() -> None:
    t1, t2, t3 = traits(0, 7), traits(0, 7), traits(0, 8)
    assert (t1.fw, t1.eye_dx, t1.hair_style) == (t2.fw, t2.eye_dx, t2.hair_style)
    np.testing.assert_array_equal(t1.skin, t2.skin)
    assert (t1.fw, t1.eye_dx, t1.mouth_w) != (t3.fw, t3.eye_dx, t3.mouth_w)


def test_heldout_identities_are_never_trained_on() -> None:
    data = FaceData(0)
    train = {(i.kind, i.name) for i in data.train}
    held = {(i.kind, i.name) for i in data.heldout}
    assert not train & held
    assert len(data.train_synthetic) >= 1000 and len(held) >= 300


def test_sample_clip_crops_show_the_face() -> None:
    crops = clip_crops("two_people", "astronaut", 3)
    assert len(crops) == 3 and all(c.shape == (112, 112, 3) for c in crops)
    ref = photo_crop(astronaut_photo()).astype(np.float32)
    # the clip frames are the photo filmed by a virtual camera: aligned crops look alike
    assert np.abs(crops[0].astype(np.float32) - ref).mean() < 40


def test_detector_crops_are_cut_where_blazeface_finds_the_face_and_only_for_training_identities() -> None:
    pytest.importorskip("mediapipe")
    from streamer.faces.detect import FaceDetector

    try:
        det = FaceDetector()
    except Exception as e:  # noqa: BLE001  (no detector model cached here)
        pytest.skip(f"BlazeFace not available: {e}")
    with det:
        a = faces.detector_crops(astronaut_photo(), 4, np.random.default_rng(0), det)
        b = faces.detector_crops(astronaut_photo(), 4, np.random.default_rng(0), det)
    assert a.shape == (4, 112, 112, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)  # deterministic for a seed
    assert not np.array_equal(a[0], a[1])  # every crop is a new camera frame
    ref = photo_crop(astronaut_photo())

    def ncc(x: np.ndarray) -> float:  # grey-level correlation of the crops' middles with the photo crop
        x, y = (v.astype(np.float32).mean(-1)[24:88, 24:88] for v in (x, ref))
        return float((((x - x.mean()) / x.std()) * ((y - y.mean()) / y.std())).mean())

    # the face, about where the runtime's crop puts it (upside-down crops score ~0.1, Grace Hopper 0.2)
    assert min(ncc(x) for x in a) > 0.3
    data = small_data(0)
    data.build_pools(2, share=1.0)
    assert set(data.pools) == {i.name for i in data.train_real}  # held-out LFW faces get none
    assert data.heldout[-1].name not in data.pools
    held = FaceData(0, n_synthetic=6, n_heldout=2, lfw_heldout=2).sample(data.heldout[-1], 3)
    np.testing.assert_array_equal(data.sample(data.heldout[-1], 3), held)  # held-out samples unchanged


# --------------------------------------------------------------------------------------------------
# Loss and metrics


def test_semihard_loss_is_zero_only_when_identities_are_separated_by_the_margin() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    apart = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]]), dim=1
    )
    loss, active = semihard_triplet_loss(apart, labels)
    assert float(loss) == 0.0 and active == 0.0
    mixed = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]]), dim=1
    )
    mixed.requires_grad_(True)
    loss, active = semihard_triplet_loss(mixed, labels)
    # a-pairs (d 2.0) only have closer negatives: the farthest (1.80) is used, 0.4 each; the
    # b-pairs (d 1.60) have a semi-hard one (1.80): 0.003 each
    assert float(loss.detach()) == pytest.approx((2 * 0.399 + 2 * 0.003) / 4, abs=2e-3) and active == 1.0
    loss.backward()
    assert mixed.grad is not None and float(mixed.grad.abs().sum()) > 0


def test_roc_auc() -> None:
    assert roc_auc(np.array([0.1, 0.2]), np.array([0.5, 0.6, 0.7])) == 1.0
    assert roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5


# --------------------------------------------------------------------------------------------------
# Export


def real_crops() -> np.ndarray:
    return np.stack([photo_crop(astronaut_photo()), *clip_crops("two_people", "grace_hopper", 2)])


def test_export_matches_pytorch_on_real_crops(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = EmbedNet()
    net.train()
    with torch.no_grad():  # give batch norm non-trivial statistics, as after training
        net(torch.randn(16, 3, 112, 112))
    net.eval()
    crops = real_crops()
    out = tmp_path / "e.onnx"
    report = Report(0, {}, 0, 0.0)
    from streamer.model_contract import TASK_EMBEDDING, ModelMetadata

    export(net, out, ModelMetadata(family="siamese", task=TASK_EMBEDDING, threshold=0.5), crops, report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.onnx"]  # no temp files left
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    got = session(out).run(["embedding"], {"image": crops})[0]
    with torch.no_grad():  # normalisation written out independently of the wrapper
        want = net(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1).numpy()
    assert got.shape == (3, 128) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert metadata(out)["embedder_id"] == report.embedder_id and len(report.embedder_id) == 16
    # N is dynamic
    assert session(out).run(["embedding"], {"image": crops[:1]})[0].shape == (1, 128)


def test_cli_rejects_a_bad_output_path_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "export", "siamese", "--out", str(tmp_path / "e.txt")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error:") and ".onnx" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.slow
def test_quick_training_writes_a_valid_model(tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    r = subprocess.run(
        [sys.executable, "-m", "export", "siamese", "--quick", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "epoch" in r.stdout and "parity ORT vs PyTorch" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"]
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["embedding"]
    meta = metadata(out)
    assert META_KEYS <= set(meta) and meta["family"] == "siamese" and meta["task"] == "face-embedding"
    assert "seed 0" in meta["source"]
    emb = session(out).run(["embedding"], {"image": real_crops()})[0]
    assert emb.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# The committed model


@pytest.fixture(scope="module")
def committed() -> tuple[ort.InferenceSession, dict[str, str]]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run python -m export siamese")
    return session(MODEL), metadata(MODEL)


def test_committed_model_metadata_and_size(committed: tuple) -> None:
    sess, meta = committed
    assert MODEL.stat().st_size < 5_000_000
    assert META_KEYS <= set(meta)
    assert meta["family"] == "siamese" and meta["embedding_dim"] == "128" and meta["input_size"] == "112"
    assert 0.0 < float(meta["threshold"]) < 1.0
    assert [o.name for o in sess.get_outputs()] == ["embedding"]


def test_committed_model_tells_the_astronaut_from_grace_hopper_in_the_sample_clips(committed: tuple) -> None:
    sess, meta = committed
    thr = float(meta["threshold"])

    def emb(crops: list[np.ndarray]) -> np.ndarray:
        return sess.run(["embedding"], {"image": np.stack(crops)})[0]

    ref = emb([photo_crop(astronaut_photo())])[0]
    genuine = 1 - emb(clip_crops("two_people", "astronaut", 5) + clip_crops("one_face", "astronaut", 3)) @ ref
    impostor = (
        1
        - emb(clip_crops("two_people", "grace_hopper", 5) + clip_crops("face_audio", "grace_hopper", 3)) @ ref
    )
    assert genuine.max() < thr < impostor.min(), (genuine, thr, impostor)
