"""deepfake: per face, the probability that it was manipulated, smoothed over the face's track.

Per frame: every face is cropped (square ``margin`` around the box, eyes level when the detector
gave keypoints: ``geometry.aligned_crop``, the crop the default model was trained on) and all
crops go through the classifier in **one** batched call (or chunks of ``batch``). The result is
written into each face as ``fake`` (events and overlay show it; overlay draws faces with
``fake >= 0.5`` red).

Single frames are noisy, so with track ids from face_detect ``fake`` is the mean probability over
the track's last ``smooth`` detections; faces without a track id get the per-frame value. Tracks
not seen for ``forget`` frames are dropped, so memory stays bounded. Frames without faces pass
unchanged. ``threshold`` (default: the model's metadata, else 0.5) decides which faces count as
fake in the run summary (counter ``flagged``) and is put into ``frame.fake_threshold`` (overlay
colours by it).

Example::

    - name: fake
      type: deepfake
      model: models/deepfake.onnx
      smooth: 5

Foreign classifiers (any ONNX model with one image input): uint8 inputs get the crops as they
are; float inputs get ``(pixel - mean) / std`` with ``mean`` and ``std`` in **0..255 pixel
units** (or ``input_range``), the layout read from the input shape unless ``layout`` says it, and
``channel_order``: the same parameters, resolved the same way, as translate and verify. The crop
size is the model's fixed input size, else ``size``, else the metadata's preferred size, else
112. The output (``fake_prob`` if present, else the first) is read as ``[N]``, ``[N, 1]`` or
``[N, C]``:

- one column: a probability; with ``activation: auto`` a sigmoid is applied when the batch has
  values outside 0..1 (logits);
- C >= 2 columns (e.g. [real, fake] logits): column ``output_index`` (default 1) is 'fake'; with
  ``activation: auto`` a softmax over the columns is applied unless every row is already a
  probability distribution.

Set ``activation`` (none | sigmoid | softmax) to fix the behaviour for a model whose outputs are
known, so it does not depend on the values of a batch.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import numpy as np
from pydantic import Field

from streamer.errors import StreamerError
from streamer.faces.crop_model import DEFAULT_MARGIN, DEFAULT_SIZE, FaceCropModel
from streamer.frame import Ann, Frame
from streamer.model_contract import FAKE_PROB_OUTPUT, ModelError
from streamer.stages._model_params import FaceModelParams
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io

DEFAULT_THRESHOLD = 0.5
__all__ = ["DEFAULT_MARGIN", "DEFAULT_SIZE", "DEFAULT_THRESHOLD", "Deepfake", "to_fake_prob"]


class _Track:
    __slots__ = ("probs", "last_seen")

    def __init__(self, k: int) -> None:
        self.probs: deque[float] = deque(maxlen=k)
        self.last_seen = 0


def to_fake_prob(
    raw: np.ndarray, n: int, *, output_index: int | None, activation: str = "auto"
) -> np.ndarray:
    """float64 [n] probabilities 'fake' from a classifier's raw output (see the module docstring)."""
    y = np.asarray(raw, np.float64).reshape(n, -1) if n else np.zeros((0, 1))
    cols = y.shape[1]
    if cols == 1:
        if output_index not in (None, 0):
            raise ModelError(f"output_index {output_index}: the model gives one number per face; use 0")
        v = y[:, 0]
        if activation == "sigmoid" or (activation == "auto" and v.size and (v.min() < 0 or v.max() > 1)):
            v = 1.0 / (1.0 + np.exp(-v))
        elif activation == "softmax":
            raise ModelError("activation softmax needs an output with 2 or more columns, got 1")
        return v
    index = 1 if output_index is None else output_index
    if not 0 <= index < cols:
        raise ModelError(f"output_index {index}: the model gives {cols} numbers per face (0..{cols - 1})")
    is_dist = bool(np.all(y >= 0) and np.all(y <= 1) and np.allclose(y.sum(1), 1.0, atol=1e-3))
    if activation == "softmax" or (activation == "auto" and not is_dist):
        e = np.exp(y - y.max(1, keepdims=True))
        y = e / e.sum(1, keepdims=True)
    elif activation == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-y))
    return y[:, index]


@register("deepfake")
class Deepfake(Stage):
    """Reads faces, writes `fake`: the probability each face was manipulated, smoothed per track."""

    class Params(FaceModelParams):
        model: str = "models/deepfake.onnx"
        """Classifier ONNX model (ours: uint8 crops in, fake_prob out; foreign: see size/mean/std)."""
        threshold: float | None = Field(default=None, ge=0.0, le=1.0)
        """Probability from which a face counts as fake (default: the model's metadata, else 0.5)."""
        smooth: int = Field(default=5, ge=1, le=100)
        """Per-track window: `fake` is the mean probability over the track's last k detections."""
        forget: int = Field(default=30, ge=1, le=100000)
        """Drop a track's history after it has not been seen for this many frames."""
        batch: int | None = Field(default=None, ge=1, le=1024)
        """Most crops per model call (default: all faces of a frame in one call)."""
        output_index: int | None = Field(default=None, ge=0)
        """Which output column is 'fake' for a multi-column classifier (default 1: [real, fake])."""
        activation: Literal["auto", "none", "sigmoid", "softmax"] = "auto"
        """How raw outputs become probabilities: auto (see the stage docs), none, sigmoid, softmax."""

    params: Params

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        return stage_io(reads=(Ann.FACES,), uses=(Ann.KEYPOINTS, Ann.TRACKS), writes=(Ann.FAKE_SCORES,))

    def open(self) -> None:
        p = self.params
        self.classifier = FaceCropModel(
            self.ctx.resolve(p.model),
            output=FAKE_PROB_OUTPUT,
            providers=p.providers,
            threads=p.threads,
            params=p.preprocess(p.size),
            margin=p.margin,
            name=self.name,
        )
        self.model = self.classifier.model
        self.size = self.classifier.size
        self.margin = self.classifier.margin
        record = self.classifier.record
        from_model = record.threshold if record is not None else None
        self.threshold: float = next(t for t in (p.threshold, from_model, DEFAULT_THRESHOLD) if t is not None)
        self._tracks: dict[int, _Track] = {}
        self.counters["flagged"] = 0
        self.classify(np.zeros((1, self.size, self.size, 3), np.uint8))  # warm-up, checks the output
        described = f"{self.model.describe()}; {self.classifier.describe_input()}"
        self.log(f"{described}, threshold {self.threshold:g}")

    def crops(self, frame: Frame) -> np.ndarray:
        """uint8 [faces, size, size, 3]: each face's aligned crop (eyes level with keypoints)."""
        return self.classifier.crops(frame.image, frame.faces)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """float64 [N] per-crop probabilities 'fake' (unsmoothed), in chunks of ``batch``."""
        raw = self.classifier.run_crops(crops, self.params.batch)
        if raw.size % max(1, len(crops)):
            raise ModelError(f"{self.model.path}: output {list(raw.shape)} does not hold one row per face")
        probs = to_fake_prob(
            raw, len(crops), output_index=self.params.output_index, activation=self.params.activation
        )
        if not np.all(np.isfinite(probs)):
            raise StreamerError(f"{self.name}: the model gave non-finite outputs; check mean/std/size for it")
        return np.clip(probs, 0.0, 1.0)

    def process(self, frame: Frame) -> Frame:
        if not frame.faces:
            self._forget(frame.index)
            return frame
        probs = self.classify(self.crops(frame))
        out = []
        for face, prob in zip(frame.faces, probs, strict=True):
            value = (
                float(prob)
                if face.track_id is None
                else self._smoothed(face.track_id, frame.index, float(prob))
            )
            if value >= self.threshold:
                self.counters["flagged"] += 1
            out.append(face.replace(fake=value))
        self._forget(frame.index)
        return frame.replace(faces=tuple(out), fake_threshold=self.threshold)

    def _smoothed(self, track_id: int, index: int, prob: float) -> float:
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = _Track(self.params.smooth)
        track.probs.append(prob)
        track.last_seen = index
        return math.fsum(track.probs) / len(track.probs)

    def _forget(self, index: int) -> None:
        if self._tracks:
            limit = self.params.forget
            for t in [t for t, tr in self._tracks.items() if index - tr.last_seen > limit]:
                del self._tracks[t]

    def close(self) -> None:
        self._tracks = {}
