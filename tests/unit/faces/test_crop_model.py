"""streamer/faces/crop_model.py: the face-crop model base shared by the embedder and the deepfake classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from streamer.faces.crop_model import DEFAULT_MARGIN, FaceCropModel, face_crops
from streamer.faces.embed import Embedder
from streamer.frame import Face
from streamer.model_contract import EMBEDDING_OUTPUT, ModelError
from streamer.onnx import PreprocessParams
from tests import helpers_onnx as H

FACE = Face(box=(170.0, 40.0, 270.0, 160.0), score=0.9, keypoints=((200.0, 90.0), (245.0, 88.0)))


@pytest.fixture(scope="module")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our ``image`` input and metadata (preferred size 64), output ``embedding`` float32 [N, 8]."""
    return H.embedding(tmp_path_factory.mktemp("crop") / "helper.onnx")


def test_size_margin_and_output_come_from_metadata_and_params(helper: Path, tmp_path: Path) -> None:
    model = FaceCropModel(helper, output=EMBEDDING_OUTPUT, threads=1)
    assert (model.size, model.margin, model.output.name, model.uint8) == (
        64,
        DEFAULT_MARGIN,
        "embedding",
        True,
    )
    assert model.describe_input() == "64x64 uint8 crops"
    other = FaceCropModel(helper, output="nope", threads=1, params=PreprocessParams(size=48), margin=0.5)
    assert (other.size, other.margin, other.output.name) == (48, 0.5, "embedding")  # first output
    with_margin = H._export(  # a metadata margin is used when the stage gives none
        H.EmbeddingWrapper(),
        tmp_path / "m.onnx",
        torch.zeros(1, 16, 16, 3, dtype=torch.uint8),
        in_name="image",
        out_name="embedding",
        dynamic={0: "n", 1: "h", 2: "w"},
        meta={**H.META_OURS, "margin": "0.4"},
    )
    assert FaceCropModel(with_margin, output=EMBEDDING_OUTPUT).margin == 0.4


def test_run_crops_in_chunks_equals_one_call(helper: Path) -> None:
    model = FaceCropModel(helper, output=EMBEDDING_OUTPUT, threads=1)
    image = data.astronaut()
    crops = face_crops(image, [FACE, FACE.replace(box=(300.0, 250.0, 420.0, 380.0))] * 3, 64, 0.25)
    whole = model.run_crops(crops)
    assert whole.shape == (6, 8)
    np.testing.assert_array_equal(model.run_crops(crops, step=4), whole)
    np.testing.assert_array_equal(model.crops(image, [FACE])[0], crops[0])
    assert model.run_crops(crops[:0]).shape[0] == 0


def test_both_face_models_share_the_base(helper: Path) -> None:
    from streamer.stages.base import RunContext
    from streamer.stages.deepfake import Deepfake

    assert isinstance(Embedder(helper, threads=1), FaceCropModel)
    stage = Deepfake("fake", Deepfake.Params(model=str(helper), threads=1), RunContext(log=lambda _m: None))
    stage.open()
    assert isinstance(stage.classifier, FaceCropModel) and stage.size == 64


def test_bad_crops_are_named(helper: Path) -> None:
    model = FaceCropModel(helper, output=EMBEDDING_OUTPUT, threads=1)
    with pytest.raises(ValueError, match=r"who: expected crops of 64x64x3, got \(32, 32, 3\)"):
        model.check_crops(np.zeros((1, 32, 32, 3), np.uint8), "who")
    with pytest.raises(ModelError, match="expected one image input"):
        FaceCropModel(_two_inputs(helper.parent / "two.onnx"), output=EMBEDDING_OUTPUT)


def _two_inputs(path: Path) -> Path:
    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (a.float() + b.float()).mean(dim=(1, 2))

    import warnings

    x = torch.zeros(1, 8, 8, 3, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Two(), (x, x), str(path), input_names=["a", "b"], output_names=["o"], dynamo=False)
    return path
