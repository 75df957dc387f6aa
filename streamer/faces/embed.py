"""Embedder: face crops → L2-normalised embeddings, for enroll and the verify stage.

Two kinds of model work:

- **ours** (``python -m export``'s siamese family): input ``image`` uint8 [N, S, S, 3] RGB,
  output ``embedding`` float32 [N, D]; crop size, threshold and the embedder's id come from the
  model's metadata (``preferred_size``, ``threshold``, ``embedder_id``), so no parameter is needed.
- **foreign** float models (an ArcFace-style 112x112 network, say): the input gets
  ``(pixel - mean) / std`` with ``mean`` and ``std`` in **0..255 pixel units**, as those models
  are usually documented (ArcFace: mean 127.5, std 127.5, which maps 0..255 onto -1..1), a
  layout read from the input shape (NCHW or NHWC), and ``channel_order`` (default rgb). The crop
  size is the model's fixed input size, else ``size``. Their outputs are L2-normalised here too.

Crops: a square ``margin`` around the detector's box, rotated so the eyes are level when the
face has keypoints (``geometry.aligned_crop`` + ``geometry.eyes_of``), the crop the embedder was
trained on. All faces of a frame go through the model in one batched call.

Example::

    emb = Embedder("models/embedder.onnx", threads=2, name="verify")
    vectors = emb.embed(frame.image, frame.faces)  # float32 [len(faces), D], unit length
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.frame import Face
from streamer.geometry import aligned_crop, eyes_of
from streamer.onnx_model import ModelError, OnnxModel

ChannelOrder = Literal["rgb", "bgr"]
DEFAULT_SIZE = 112


def _triple(value: float | Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(value, np.float32).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3:
        raise ModelError(f"{what}: expected one number or three (R, G, B), got {list(arr)}")
    return arr


def file_id(path: Path) -> str:
    """The id of a model without an ``embedder_id`` in its metadata: sha256 of its bytes, 16 hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class Embedder:
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
    ) -> None:
        self.path = Path(model_path)
        self.model = OnnxModel(self.path, providers=providers, threads=threads, name=name, kind="any")
        self.meta: dict[str, str] = self.model.metadata
        inputs, outputs = self.model.inputs, self.model.outputs
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: expected one image input, got {len(inputs)} inputs")
        self._in = inputs[0]
        shape = list(self._in.shape)
        if len(shape) != 4 or self._in.type not in ("tensor(uint8)", "tensor(float)"):
            raise ModelError(
                f"{self.path}: expected an image input uint8 [N, H, W, 3] or float [N, 3, H, W], "
                f"got '{self._in.name}' {self._in.type} {shape}"
            )
        out = next((o for o in outputs if o.name == "embedding"), outputs[0])
        if out.type not in ("tensor(float)", "tensor(float16)") or len(out.shape) != 2:
            got = ", ".join(f"'{o.name}' {o.type} {list(o.shape)}" for o in outputs)
            raise ModelError(
                f"{self.path}: expected an embedding output float [N, D], got {got}; "
                "is this an embedding model (face verification needs one)?"
            )
        self._out_name = out.name
        self.uint8 = self._in.type == "tensor(uint8)"
        given = [
            k for k, v in (("mean", mean), ("std", std), ("channel_order", channel_order)) if v is not None
        ]
        if self.uint8:
            if given:
                raise ModelError(
                    f"{self.path}: {', '.join(given)} given, but this model takes uint8 RGB crops "
                    "(normalisation is inside it); remove them"
                )
            self.layout = "nhwc"
            if shape[3] != 3:
                raise ModelError(f"{self.path}: expected input [N, H, W, 3], got {shape}")
        else:
            self.layout = "nchw" if shape[1] == 3 else "nhwc" if shape[3] == 3 else ""
            if not self.layout:
                raise ModelError(f"{self.path}: input {shape} has no axis of 3 colour channels")
            missing = [k for k, v in (("mean", mean), ("std", std)) if v is None]
            if missing:
                raise ModelError(
                    f"{self.path}: float input and no streamer metadata: set {' and '.join(missing)} "
                    "(in 0..255 pixel units, e.g. mean 127.5 std 127.5 for ArcFace-style models)"
                )
        self.mean = _triple(mean, "mean") if mean is not None else None
        self.std = _triple(std, "std") if std is not None else None
        if self.std is not None and np.any(self.std == 0):
            raise ModelError(f"{self.path}: std must not be 0, got {list(self.std)}")
        self.channel_order: ChannelOrder = channel_order or "rgb"
        self.size = face_crop_size(self.path, shape, self.layout, size, self.meta)
        self.margin = (
            float(margin) if margin is not None else meta_float(self.path, self.meta, "margin", 0.25)
        )
        batch = shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.embedder_id = self.meta.get("embedder_id") or file_id(self.path)
        self.threshold: float | None = meta_float(self.path, self.meta, "threshold", None)
        self.dim: int | None = None

    def describe(self) -> str:
        """One line for the start-up log: model, provider, crop size, embedder id."""
        kind = "uint8 crops" if self.uint8 else f"float {self.layout} crops, mean/std in 0..255"
        return f"{self.model.describe()}; {self.size}x{self.size} {kind}, embedder {self.embedder_id}"

    def crops(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """uint8 [N, size, size, 3]: each face's aligned crop (eyes level when keypoints exist)."""
        return face_crops(image, faces, self.size, self.margin)

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """float32 [len(faces), D] unit vectors, one batched model call for all faces."""
        if not faces:
            return np.zeros((0, self.dim or 0), np.float32)
        return self.embed_crops(self.crops(image, faces))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """float32 [N, D] unit vectors for uint8 RGB crops [N, size, size, 3]."""
        if not (isinstance(crops, np.ndarray) and crops.dtype == np.uint8 and crops.ndim == 4):
            got = f"{crops.dtype} {crops.shape}" if isinstance(crops, np.ndarray) else type(crops).__name__
            raise ValueError(f"Embedder.embed_crops: expected uint8 [N, S, S, 3], got {got}")
        if crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(
                f"Embedder.embed_crops: expected crops of {self.size}x{self.size}x3, got {crops.shape[1:]}"
            )
        x = crops if self.uint8 else self._to_float(crops)
        b = self.fixed_batch
        if b is not None and b != len(x):
            if len(x) % b:
                raise ModelError(f"{self.path}: fixed batch {b} does not divide {len(x)} crops")
            y = np.concatenate([self._run(x[i : i + b]) for i in range(0, len(x), b)])
        else:
            y = self._run(x)
        y = y.reshape(len(x), -1).astype(np.float32, copy=False)
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        y = y / np.maximum(norms, 1e-12)
        self.dim = int(y.shape[1])
        return y

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.model.run_raw({self._in.name: x}, [self._out_name])[self._out_name]

    def _to_float(self, crops: np.ndarray) -> np.ndarray:
        assert self.mean is not None and self.std is not None
        x = crops[..., ::-1] if self.channel_order == "bgr" else crops
        y = (x.astype(np.float32) - self.mean) / self.std
        if self.layout == "nchw":
            y = y.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(y)


def face_crops(image: np.ndarray, faces: Sequence[Face], size: int, margin: float) -> np.ndarray:
    """uint8 [N, size, size, 3]: each face's square crop with ``margin`` around its box, rotated
    so the eyes are level when the face has keypoints (what every face model here is fed)."""
    out = np.empty((len(faces), size, size, 3), np.uint8)
    for i, face in enumerate(faces):
        out[i], _ = aligned_crop(image, face.box, size, margin=margin, eyes=eyes_of(face.keypoints))
    return out


def meta_float(path: Any, meta: dict[str, str], key: str, default: Any) -> Any:
    """``meta[key]`` as a float, ``default`` when absent or empty; a one-line ModelError naming
    the model when it is not a number."""
    raw = meta.get(key)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ModelError(f"{path}: metadata {key}={raw!r}, expected a number") from None


def face_crop_size(path: Any, shape: list[Any], layout: str, size: int | None, meta: dict[str, str]) -> int:
    """The square crop a face model takes: its fixed input size, else the ``size`` param, else
    the metadata's preferred/input size, else DEFAULT_SIZE. One-line ModelError on a conflict."""
    h, w = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        if h != w:
            raise ModelError(f"{path}: expected a square input, got {h}x{w}")
        if size is not None and size != h:
            raise ModelError(f"{path}: size {size} given, but the model only takes {h}x{w}")
        return int(h)
    if size is not None:
        return int(size)
    raw = meta.get("preferred_size") or meta.get("input_size")
    if raw:
        try:
            return int(str(raw).lower().split("x")[0])
        except ValueError:
            raise ModelError(f"{path}: metadata preferred_size={raw!r}, expected a number") from None
    return DEFAULT_SIZE
