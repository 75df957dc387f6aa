"""The model contract shared by ``python -m export`` (which writes models) and streamer (which runs them).

Numpy only: no onnxruntime, no torch, so both sides import it cheaply (``render_prediction``
imports OpenCV when called, as both sides already depend on it). What lives here:

- tensor names (DESIGN 3.2): every model takes ``image`` uint8 [N, H, W, 3] RGB; image-to-image
  models return ``image_out`` (ONNX forbids an output named like an input), embedders
  ``embedding``, deepfake classifiers ``fake_prob``; the recurrent predictor's inputs, outputs and
  state names;
- the metadata schema as one typed record, :class:`ModelMetadata`: export builds one and writes
  ``to_metadata()``; the runtime reads ``from_metadata()``, which validates every key with an
  "expected X, got Y" error;
- the predictor's rendering (its outputs are a 1/4-grid flow and residual; both the exporter's
  parity check and the ``predict`` stage turn them into a picture the same way).

Example::

    meta = ModelMetadata(family="fast-style", task=TASK_IMAGE, size_multiple=4, preferred_size=256,
                         input_range="0..255", source="mosaic.pth sha256:...", precision="fp32")
    props = meta.to_metadata()          # {"streamer_format": "1", "family": "fast-style", ...}
    assert ModelMetadata.from_metadata(props) == meta
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from streamer.errors import StreamerError

#: Version of this contract recorded in every model; a model of another version is refused.
STREAMER_FORMAT = "1"

# ---------------------------------------------------------------------------------------- tensor names

IMAGE_INPUT = "image"
"""Every model's picture input: uint8 [N, H, W, 3] RGB."""
IMAGE_OUTPUT = "image_out"
"""Image-to-image models' output: uint8 [N, H, W, 3] RGB (scaled when the model upscales)."""
EMBEDDING_OUTPUT = "embedding"
"""Face embedders' output: float32 [N, D]."""
FAKE_PROB_OUTPUT = "fake_prob"
"""Deepfake classifiers' output: float32 [N], the probability that each face was manipulated."""

PREDICTOR_STATE_INPUT = "state"
PREDICTOR_STATE_OUTPUT = "state_out"
#: The recurrent predictor's inputs: the last output picture, the motion pair, frames between the
#: pair (``span``) and from the pair's second picture to the frame predicted (``lag``), its state.
PREDICTOR_INPUTS = (IMAGE_INPUT, "prev", "cur", "span", "lag", PREDICTOR_STATE_INPUT)
#: Its outputs: ``flow`` [N, 2, H/4, W/4] in full-size pixels, ``residual`` [N, 3, H/4, W/4] in
#: levels, and the next state.
PREDICTOR_OUTPUTS = ("flow", "residual", PREDICTOR_STATE_OUTPUT)

TASK_IMAGE = "image-to-image"
TASK_EMBEDDING = "face-embedding"
TASK_FAKE = "face-manipulation"
TASK_PREDICTION = "frame-prediction"
FAMILY_PREDICTOR = "predictor"

#: Pixel ranges a net may work in, by the export spelling; ``"-1,1"`` is accepted too.
INPUT_RANGES: dict[str, tuple[float, float]] = {
    "0..1": (0.0, 1.0),
    "-1..1": (-1.0, 1.0),
    "0..255": (0.0, 255.0),
}
PRECISIONS = ("fp32", "fp16", "int8")


class ModelError(StreamerError):
    """A model file is missing, corrupt, or not what the stage needs; or its provider is unusable."""


class MetadataError(ModelError):
    """A model's metadata breaks the contract (a key of the wrong type, an unknown version)."""


def canonical_range(value: str) -> str:
    """``"-1,1"``, ``"-1, 1"`` and ``"-1..1"`` all become ``"-1..1"``; MetadataError for others."""
    key = str(value).replace(" ", "").replace(",", "..")
    if key not in INPUT_RANGES:
        raise MetadataError(f"input_range {value!r}: expected one of {', '.join(INPUT_RANGES)}")
    return key


# ---------------------------------------------------------------------------------------- metadata


def _whole(key: str, raw: str) -> int:
    """A whole number >= 1; ``"256x256"`` and ``"256,256"`` read as 256 (square sizes)."""
    try:
        value = int(str(raw).lower().split("x")[0].split(",")[0])
    except ValueError:
        raise MetadataError(f"metadata {key}={raw!r}, expected a whole number") from None
    if value < 1:
        raise MetadataError(f"metadata {key}={raw!r}, expected a number >= 1")
    return value


def _number(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise MetadataError(f"metadata {key}={raw!r}, expected a number") from None
    if not math.isfinite(value):
        raise MetadataError(f"metadata {key}={raw!r}, expected a finite number")
    return value


@dataclass(frozen=True, kw_only=True)
class ModelMetadata:
    """What a model records about itself (ONNX ``metadata_props``, all values strings on disk).

    Written by export, read by the runtime; ``from_metadata(m.to_metadata()) == m``. Keys this
    version does not know are kept in ``extra`` (a newer exporter may add some), never dropped.
    """

    family: str
    """Model family (``cyclegan``, ``fast-style``, ``siamese``, ``deepfake``, ``predictor``, ...)."""
    task: str
    """What it does: ``image-to-image``, ``face-embedding``, ``face-manipulation``, ``frame-prediction``."""
    source: str = ""
    """Where it came from: the checkpoint and its sha256, or the training command."""
    size_multiple: int = 1
    """H and W must be multiples of this (the runtime pads and crops back)."""
    preferred_size: int | None = None
    """The square size to warm up at and to crop faces at."""
    input_size: int | None = None
    """Face models: the crop size they were trained on."""
    input_range: str | None = None
    """The range the inner net works in (informational: normalisation is inside the graph)."""
    precision: str | None = None
    """fp32, fp16 or int8."""
    threshold: float | None = None
    """Embedders: largest cosine distance of a match; classifiers: probability counted as fake."""
    margin: float | None = None
    """Face models: crop context on each side, as a fraction of the face box."""
    embedding_dim: int | None = None
    distance: str | None = None
    embedder_id: str | None = None
    """Embedders: the id a gallery records, so a gallery is never used with another embedder."""
    alignment: str | None = None
    output: str | None = None
    """A description of the output, for people reading the model."""
    state_channels: int | None = None
    """Predictor: channels of the recurrent state."""
    state_scale: int | None = None
    """Predictor: the state's grid is 1/state_scale of the picture."""
    input_scale: int | None = None
    """Predictor: its picture inputs are 1/input_scale of the picture."""
    streamer_format: str = STREAMER_FORMAT
    extra: Mapping[str, str] = field(default_factory=dict)

    _WHOLE: ClassVar[tuple[str, ...]] = (
        "size_multiple", "preferred_size", "input_size", "embedding_dim",
        "state_channels", "state_scale", "input_scale",
    )  # fmt: skip
    _FLOAT: ClassVar[tuple[str, ...]] = ("threshold", "margin")

    def __post_init__(self) -> None:
        for key in ("family", "task"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise MetadataError(f"metadata {key}: expected a non-empty name, got {value!r}")
        if self.streamer_format != STREAMER_FORMAT:
            raise MetadataError(
                f"streamer_format {self.streamer_format!r} is not supported (expected {STREAMER_FORMAT!r}); "
                "re-export the model with this version's `python -m export`"
            )
        for key in self._WHOLE:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise MetadataError(f"metadata {key}: expected a whole number >= 1, got {value!r}")
        for key in self._FLOAT:
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise MetadataError(f"metadata {key}: expected a finite number, got {value!r}")
        if self.margin is not None and self.margin < 0:
            raise MetadataError(f"metadata margin: expected a number >= 0, got {self.margin!r}")
        if self.input_range is not None:
            object.__setattr__(self, "input_range", canonical_range(self.input_range))
        if self.precision is not None and self.precision not in PRECISIONS:
            expected = ", ".join(PRECISIONS)
            raise MetadataError(f"metadata precision: expected one of {expected}, got {self.precision!r}")
        known = {f.name for f in dataclasses.fields(self)}
        clash = sorted(set(self.extra) & known)
        if clash:
            raise MetadataError(f"metadata extra: expected keys outside the schema, got {clash}")

    def to_metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` (strings; unset keys left out; ``streamer_format`` first)."""
        out = {"streamer_format": self.streamer_format}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("streamer_format", "extra") or value is None:
                continue
            if f.name == "source" and value == "":
                continue
            out[f.name] = repr(float(value)) if f.name in self._FLOAT else str(value)
        out.update(self.extra)
        return out

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> ModelMetadata:
        """The record of an ONNX file's metadata; MetadataError (one line) when a key breaks it.

        A file without ``streamer_format`` is not ours: call :func:`is_streamer_model` first.
        """
        if "streamer_format" not in meta:
            raise MetadataError("metadata streamer_format: expected a streamer model, got none")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for key, raw in meta.items():
            if key not in names:
                extra[key] = str(raw)
            elif raw is None or raw == "":
                continue
            elif key in cls._WHOLE:
                kwargs[key] = _whole(key, raw)
            elif key in cls._FLOAT:
                kwargs[key] = _number(key, raw)
            else:
                kwargs[key] = str(raw)
        for key in ("family", "task"):
            kwargs.setdefault(key, "")
        return cls(**kwargs, extra=extra)

    def replace(self, **changes: Any) -> ModelMetadata:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


def is_streamer_model(meta: Mapping[str, str]) -> bool:
    """Whether an ONNX file's metadata says it was written by ``python -m export`` (any version)."""
    return "streamer_format" in meta


# ---------------------------------------------------------------------------------------- predictor


def predictor_feeds(
    *, image: np.ndarray, prev: np.ndarray, cur: np.ndarray, span: Any, lag: Any, state: np.ndarray
) -> dict[str, np.ndarray]:
    """The predictor's inputs by their contract names: pictures uint8 [N, h, w, 3] at 1/input_scale,
    ``span`` and ``lag`` float32 [N] (numbers are made float32 [1]), ``state`` float32 [N, C, h', w']."""
    values = (
        image,
        prev,
        cur,
        np.asarray(span, np.float32).reshape(-1),
        np.asarray(lag, np.float32).reshape(-1),
        state,
    )
    return dict(zip(PREDICTOR_INPUTS, values, strict=True))


def render_prediction(image: np.ndarray, flow: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The full-size prediction from the predictor's 1/4-grid outputs: ``image`` (uint8 H x W x 3)
    sampled at ``p + flow(p)`` (``flow`` float [2, H/4, W/4] in full-size pixels, bilinearly
    upsampled; border pixels repeat) plus the upsampled ``residual`` ([3, H/4, W/4], levels).
    OpenCV's resize + remap do in a few ms what ONNX Runtime's CPU GridSample needs ~10x for."""
    import cv2

    h, w = image.shape[:2]
    up = cv2.resize(np.ascontiguousarray(flow.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    # one 2-channel float map, no second map: OpenCV accepts None, its stubs do not say so
    warped = cv2.remap(  # type: ignore[call-overload]
        image, cv2.add(up, _pixel_grid(h, w)), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    res = cv2.resize(
        np.ascontiguousarray(residual.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR
    )
    # OpenCV's saturating add rounds like np.rint + clip; unlike numpy it releases the GIL, which
    # matters when every stage of a graph is a Python thread
    return cv2.add(warped, res, dtype=cv2.CV_8U)


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """float32 H x W x 2: each pixel's own (x, y), read-only, cached per size."""
    grid = np.empty((h, w, 2), np.float32)
    grid[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    grid[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    grid.flags.writeable = False
    return grid
