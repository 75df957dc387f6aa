"""Embedder: batching, foreign models through size/mean/std/channel_order, ids, one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from skimage import data
from torch import nn

from streamer.faces.embed import Embedder, file_id
from streamer.frame import Face
from streamer.geometry import aligned_crop
from streamer.onnx_model import ModelError
from tests import helpers_onnx as H


class TinyEmbedNet(nn.Module):
    """float NCHW RGB in [-1, 1] → float [N, 16] (not normalised); seeded."""

    def __init__(self, seed: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.fc = nn.Linear(16, 16)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        return self.fc(torch.cat([y.mean(dim=(2, 3)), y.amax(dim=(2, 3))], dim=1))


class OursEmbed(nn.Module):
    """Our convention: uint8 NHWC RGB in, L2-normalised float32 'embedding' out."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return nn.functional.normalize(self.net(x), dim=1)


class ForeignEmbed(nn.Module):
    """ArcFace-style: float (x - 127.5) / 127.5, NCHW, BGR channel order, raw (unnormalised) output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flip(1)) * 3.0  # BGR in → RGB for the shared net; scale shows normalising


def _export(
    module: nn.Module,
    path: Path,
    example: torch.Tensor,
    dynamic: dict[int, str] | None,
    meta: dict[str, str] | None,
    in_name: str,
) -> Path:
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[in_name],
            output_names=["embedding"],
            dynamic_axes={in_name: dynamic, "embedding": {0: "n"}} if dynamic else None,
            opset_version=17,
            dynamo=False,
        )
    model = onnx.load(str(path))
    for key, value in (meta or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


OURS_META = {
    "streamer_format": "1",
    "family": "siamese",
    "task": "face-embedding",
    "preferred_size": "64",
    "threshold": "0.4",
    "embedder_id": "test-siamese-1",
}


def build_ours(path: Path, *, seed: int = 3, meta: dict[str, str] | None = None) -> Path:
    """A tiny siamese-style embedder with our conventions (uint8 NHWC 64x64 → unit [N, 16])."""
    return _export(
        OursEmbed(TinyEmbedNet(seed)),
        path,
        torch.zeros(1, 64, 64, 3, dtype=torch.uint8),
        {0: "n", 1: "h", 2: "w"},
        {**OURS_META, **(meta or {})},
        "image",
    )


def build_foreign(path: Path, *, seed: int = 3, fixed: bool = True) -> Path:
    """The same net as an ArcFace-style foreign model: float NCHW BGR, fixed 64x64, no metadata."""
    return _export(
        ForeignEmbed(TinyEmbedNet(seed)),
        path,
        torch.zeros(1, 3, 64, 64),
        None if fixed else {0: "n", 2: "h", 3: "w"},
        None,
        "input",
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("embed_models")
    return {
        "ours": build_ours(d / "ours.onnx"),
        "foreign": build_foreign(d / "foreign.onnx"),
        "foreign_dyn": build_foreign(d / "foreign_dyn.onnx", fixed=False),
        "helper": H.embedding(d / "helper.onnx"),
    }


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


# the astronaut's face (box measured on the 512x512 photo) and a second, non-face region
FACES = (
    Face(box=(170.0, 40.0, 270.0, 160.0), score=0.9, keypoints=((200.0, 90.0), (245.0, 88.0))),
    Face(box=(300.0, 250.0, 420.0, 380.0), score=0.8),
    Face(box=(20.0, 300.0, 90.0, 370.0), score=0.7),
)


def test_ours_reads_metadata(models: dict[str, Path]) -> None:
    emb = Embedder(models["ours"], threads=1)
    assert emb.uint8 and emb.size == 64
    assert emb.embedder_id == "test-siamese-1"
    assert emb.threshold == pytest.approx(0.4)
    assert "64x64 uint8 crops" in emb.describe()


def test_batch_equals_one_by_one(models: dict[str, Path], astronaut: np.ndarray) -> None:
    emb = Embedder(models["ours"], threads=1)
    batch = emb.embed(astronaut, FACES)
    assert batch.shape == (3, 16) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    single = np.concatenate([emb.embed(astronaut, [f]) for f in FACES])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    assert np.abs(batch[0] - batch[1]).max() > 0.05  # different faces, different vectors


def test_crops_use_aligned_crop(models: dict[str, Path], astronaut: np.ndarray) -> None:
    emb = Embedder(models["ours"], threads=1, margin=0.3)
    crops = emb.crops(astronaut, FACES[:1])
    face = FACES[0]
    expected, _ = aligned_crop(astronaut, face.box, 64, margin=0.3, eyes=face.keypoints)  # type: ignore[arg-type]
    np.testing.assert_array_equal(crops[0], expected)
    # eyes not level in the keypoints → the crop is rotated, so it differs from the unrotated one
    plain, _ = aligned_crop(astronaut, face.box, 64, margin=0.3)
    assert np.abs(crops[0].astype(int) - plain).mean() > 1


def test_no_faces_gives_empty(models: dict[str, Path], astronaut: np.ndarray) -> None:
    emb = Embedder(models["ours"], threads=1)
    assert emb.embed(astronaut, []).shape[0] == 0


def test_foreign_through_params_equals_ours(models: dict[str, Path], astronaut: np.ndarray) -> None:
    ours = Embedder(models["ours"], threads=1).embed(astronaut, FACES)
    foreign = Embedder(models["foreign"], threads=1, mean=127.5, std=[127.5] * 3, channel_order="bgr")
    assert not foreign.uint8 and foreign.size == 64 and foreign.fixed_batch == 1
    got = foreign.embed(astronaut, FACES)  # fixed batch 1: run one crop at a time
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, ours, atol=1e-4)
    # the wrong channel order really changes the result (the parameter is used)
    rgb = Embedder(models["foreign"], threads=1, mean=127.5, std=127.5)
    assert np.abs(rgb.embed(astronaut, FACES) - ours).max() > 1e-2
    # dynamic-size foreign model: size comes from the parameter
    dyn = Embedder(models["foreign_dyn"], threads=1, size=64, mean=127.5, std=127.5, channel_order="bgr")
    np.testing.assert_allclose(dyn.embed(astronaut, FACES), ours, atol=1e-4)
    # its id is the file hash (no metadata)
    assert dyn.embedder_id == file_id(models["foreign_dyn"]) and len(dyn.embedder_id) == 16
    assert dyn.threshold is None


def test_foreign_errors(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="set mean and std"):
        Embedder(models["foreign"])
    with pytest.raises(ModelError, match="only takes 64x64"):
        Embedder(models["foreign"], size=112, mean=127.5, std=127.5)
    with pytest.raises(ModelError, match="remove them"):
        Embedder(models["ours"], mean=127.5, std=127.5)
    with pytest.raises(ModelError, match="one number or three"):
        Embedder(models["foreign"], mean=[1.0, 2.0], std=127.5)


def test_image_model_is_not_an_embedder(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        Embedder(H.ours(tmp_path / "style.onnx"))
    assert "expected an embedding output float [N, D]" in str(err.value) and "\n" not in str(err.value)


def test_missing_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        Embedder(tmp_path / "nope.onnx")
    msg = str(err.value)
    assert "not found" in msg and "nope.onnx" in msg and "\n" not in msg


def test_helper_model_defaults(models: dict[str, Path], astronaut: np.ndarray) -> None:
    """The tests' helper embedding model: no size in metadata beyond preferred 64, no id, no threshold."""
    emb = Embedder(models["helper"], threads=1)
    assert emb.size == 64 and emb.threshold is None
    out = emb.embed(astronaut, FACES)
    assert out.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_bad_crops_rejected(models: dict[str, Path]) -> None:
    emb = Embedder(models["ours"], threads=1)
    with pytest.raises(ValueError, match="expected crops of 64x64x3"):
        emb.embed_crops(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="expected uint8"):
        emb.embed_crops(np.zeros((1, 64, 64, 3), np.float32))


def test_missing_default_embedder_names_the_command(tmp_path) -> None:  # noqa: ANN001
    """models/face_embedder.onnx is not committed: its absence is one line naming the build command."""
    from streamer.faces.embed import Embedder
    from streamer.model_contract import ModelError

    with pytest.raises(ModelError, match="python -m export dlib-resnet") as info:
        Embedder(tmp_path / "models" / "face_embedder.onnx")
    assert "\n" not in str(info.value)
