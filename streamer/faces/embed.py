"""Embedder: face crops → L2-normalised embeddings, for enroll and the verify stage.

Two kinds of model work:

- **ours** (``python -m export``'s dlib-resnet family, the default, fed dlib's aligned chips;
  or the small siamese family): input ``image`` uint8 [N, S, S, 3] RGB,
  output ``embedding`` float32 [N, D]; crop size, threshold and the embedder's id come from the
  model's metadata (``preferred_size``, ``threshold``, ``embedder_id``), so no parameter is needed.
- **foreign** float models (an ArcFace-style 112x112 network, say): ``mean`` and ``std`` in
  **0..255 pixel units**, as those models are usually documented (ArcFace: mean 127.5, std 127.5,
  which maps 0..255 onto -1..1), or ``input_range``; the layout is read from the input shape
  unless ``layout`` says it, ``channel_order`` defaults to rgb (one resolver for every stage:
  :mod:`streamer.onnx.preprocess`). The crop size is the model's fixed input size, else ``size``.
  Their outputs are L2-normalised here too.

Crops: a square ``margin`` around the detector's box, rotated so the eyes are level when the
face has keypoints (``geometry.aligned_crop`` + ``geometry.eyes_of``), the crop the embedder was
trained on. All faces of a frame go through the model in one batched call.

Example::

    emb = Embedder("models/face_embedder.onnx", threads=2, name="verify")
    vectors = emb.embed(frame.image, frame.faces)  # float32 [len(faces), D], unit length
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from streamer.faces.crop_model import DEFAULT_SIZE, FaceCropModel, face_crops
from streamer.frame import Face
from streamer.model_contract import EMBEDDING_OUTPUT, ModelError
from streamer.onnx import PreprocessParams

ChannelOrder = Literal["rgb", "bgr"]
__all__ = ["DEFAULT_MODEL", "DEFAULT_SIZE", "Embedder", "face_crops", "file_id", "require_model"]


def file_id(path: Path) -> str:
    """The id of a model without an ``embedder_id`` in its metadata: sha256 of its bytes, 16 hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


#: The default embedder: dlib's ResNet descriptor, not committed (22 MB), built from the installed
#: face_recognition_models package by this command.
DEFAULT_MODEL = "models/face_embedder.onnx"
BUILD_DEFAULT = "python -m export dlib-resnet --out models/face_embedder.onnx"


def require_model(path: str | Path) -> None:
    """ModelError (one line) naming the command that builds it when the default embedder is missing."""
    path = Path(path)
    if not path.is_file() and path.name == Path(DEFAULT_MODEL).name:
        raise ModelError(
            f"face embedder {path} not found: build it once with `{BUILD_DEFAULT}` "
            "(needs pip install face_recognition_models torch onnx)"
        )


class Embedder(FaceCropModel):
    """An embedding ONNX model with the face-crop convention it needs (see the module doc)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        size: int | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        channel_order: ChannelOrder | None = None,
        margin: float | None = None,
        name: str = "",
        input_range: str | None = None,
        layout: Literal["nhwc", "nchw"] | None = None,
    ) -> None:
        params = PreprocessParams.of(
            input_range=input_range, mean=mean, std=std, layout=layout, channel_order=channel_order, size=size
        )
        require_model(model_path)
        super().__init__(
            model_path,
            output=EMBEDDING_OUTPUT,
            providers=providers,
            threads=threads,
            params=params,
            margin=margin,
            name=name,
        )
        out = self.output
        if out.type not in ("tensor(float)", "tensor(float16)") or len(out.shape) != 2:
            got = ", ".join(f"'{o.name}' {o.type} {list(o.shape)}" for o in self.model.outputs)
            raise ModelError(
                f"{self.path}: expected an embedding output float [N, D], got {got}; "
                "is this an embedding model (face verification needs one)?"
            )
        record = self.record
        self.embedder_id = (record.embedder_id if record else None) or file_id(self.path)
        self.threshold: float | None = record.threshold if record else None
        self.dim: int | None = None

    def describe(self) -> str:
        """One line for the start-up log: model, provider, crop size, embedder id."""
        return f"{self.model.describe()}; {self.describe_input()}, embedder {self.embedder_id}"

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """float32 [len(faces), D] unit vectors, one batched model call for all faces."""
        if not faces:
            return np.zeros((0, self.dim or 0), np.float32)
        return self.embed_crops(self.crops(image, faces))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """float32 [N, D] unit vectors for uint8 RGB crops [N, size, size, 3]."""
        self.check_crops(crops, "Embedder.embed_crops")
        y = self.run_crops(crops)
        y = y.reshape(len(crops), -1).astype(np.float32, copy=False)
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        y = y / np.maximum(norms, 1e-12)
        self.dim = int(y.shape[1])
        return y
