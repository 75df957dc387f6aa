"""deepfake: per face, the probability that it was manipulated, decided per track with hysteresis.

Per frame: every face is cropped (square ``margin`` around the box, eyes level when the detector
gave keypoints: ``geometry.aligned_crop``, the crop the default model was trained on) and all
crops go through the classifier in **one** batched call (or chunks of ``batch``). The result is
written into each face as ``fake`` (events and overlay show it).

Why the extra rules: a detector that calls every small, blurred or compressed real face fake is
worse than none (users stop reading it). So the stage does not guess where it cannot know, and
one noisy frame does not flip a call:

- **minimum face size**: a face whose box is smaller than ``min_face`` pixels (longer side) is
  not classified: ``fake`` is null and ``fake_reason`` says ``"small: ..."`` (events write it, the
  overlay labels the face ``fake? small``). Its crop would be upscaled from too few pixels for
  manipulation traces to survive.
- **per-track smoothing**: with track ids from face_detect, the track's score is the mean
  probability over its last ``smooth`` classified detections; faces without a track id get the
  per-frame value and no hysteresis.
- **hysteresis**: a track is called fake only after its score has been ``>= threshold`` on
  ``confirm`` classified detections in a row; until then it abstains (``fake`` null,
  ``"pending: ..."``). A fake track stays fake until its score falls below
  ``threshold - release`` (meanwhile ``fake`` is the score and ``fake_reason`` ``"held: ..."``).
  :func:`is_fake` is the call (overlay and the ``flagged`` counter use it).

Offline, ``batch_frames: N`` classifies the faces of N frames in one call
(``streamer/stages/_held.py``); the calls are the same as frame by frame.

Tracks not seen for ``forget`` frames are dropped, so memory stays bounded. Frames without faces
pass unchanged. ``threshold`` (default: the model's metadata, else 0.5) is put into
``frame.fake_threshold`` (overlay colours by it). Counters: ``flagged`` (faces called fake),
``abstained`` (faces with ``fake`` null).

Example::

    - name: fake
      type: deepfake
      model: models/deepfake.onnx
      smooth: 5
      confirm: 3        # detections in a row at or above the threshold before a track is fake
      release: 0.1      # a fake track turns real below threshold - release
      min_face: 40      # px; smaller faces: fake null, fake_reason "small: ..."

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
from streamer.frame import Ann, Face, Frame
from streamer.model_contract import FAKE_PROB_OUTPUT, ModelError
from streamer.stages._held import HeldFaces
from streamer.stages._model_params import FaceModelParams
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io

DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_FACE = 40
SMALL, PENDING, HELD = "small", "pending", "held"  # the first word of Face.fake_reason
__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_FACE",
    "DEFAULT_SIZE",
    "DEFAULT_THRESHOLD",
    "Deepfake",
    "is_fake",
    "reason_word",
    "to_fake_prob",
]


def reason_word(face: Face) -> str | None:
    """The first word of ``face.fake_reason`` (``small``, ``pending``, ``held``), or None."""
    return face.fake_reason.split(":", 1)[0] if face.fake_reason else None


def is_fake(face: Face, threshold: float | None = None) -> bool | None:
    """The deepfake stage's call for ``face``: True (fake), False (real) or None (it abstained or
    did not run). ``fake >= threshold`` unless a track's hysteresis holds the face fake."""
    if face.fake is None:
        return None
    if reason_word(face) == HELD:
        return True
    return face.fake >= (DEFAULT_THRESHOLD if threshold is None else threshold)


class _Track:
    """One face track's recent probabilities and its hysteresis state."""

    __slots__ = ("probs", "last_seen", "fake", "run")

    def __init__(self, k: int) -> None:
        self.probs: deque[float] = deque(maxlen=k)
        self.last_seen = 0
        self.fake = False  # the track's call
        self.run = 0  # classified detections in a row with the score at or above the threshold


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
class Deepfake(HeldFaces, Stage):
    """Reads faces, writes `fake`: the probability each face was manipulated, smoothed per track."""

    class Params(FaceModelParams):
        model: str = "models/deepfake.onnx"
        """Classifier ONNX model (ours: uint8 crops in, fake_prob out; foreign: see size/mean/std)."""
        threshold: float | None = Field(default=None, ge=0.0, le=1.0)
        """Probability from which a face counts as fake (default: the model's metadata, else 0.5)."""
        smooth: int = Field(default=5, ge=1, le=100)
        """Per-track window: `fake` is the mean probability over the track's last k detections."""
        confirm: int = Field(default=3, ge=1, le=1000)
        """A track is called fake after this many detections in a row scored at or above threshold."""
        release: float = Field(default=0.1, ge=0.0, le=1.0)
        """A fake track is called real again once its score falls below threshold - release."""
        min_face: int = Field(default=DEFAULT_MIN_FACE, ge=0, le=10000)
        """Abstain (fake null, reason "small") on faces whose box's longer side is below this (px)."""
        forget: int = Field(default=30, ge=1, le=100000)
        """Drop a track's history after it has not been seen for this many frames."""
        batch: int | None = Field(default=None, ge=1, le=1024)
        """Most crops per model call (default: all faces of a frame in one call)."""
        output_index: int | None = Field(default=None, ge=0)
        """Which output column is 'fake' for a multi-column classifier (default 1: [real, fake])."""
        activation: Literal["auto", "none", "sigmoid", "softmax"] = "auto"
        """How raw outputs become probabilities: auto (see the stage docs), none, sigmoid, softmax."""

    params: Params
    runtime_params = frozenset({"threshold"})  # changeable while running (--serve)

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
        self.counters["abstained"] = 0
        self._hold_frames(p.batch_frames, self.ctx.mode, self.classifier, p.batch)
        self.classify(np.zeros((1, self.size, self.size, 3), np.uint8))  # warm-up, checks the output
        described = f"{self.model.describe()}; {self.classifier.describe_input()}"
        self.log(
            f"{described}, threshold {self.threshold:g} (confirm {p.confirm}, release {p.release:g}), "
            f"min_face {p.min_face} px"
        )

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

    def _judged(self, frame: Frame) -> tuple[list[float], list[int]]:
        """Each face's box side (px) and the indexes of those at least ``min_face``."""
        sides = [max(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in frame.faces]
        return sides, [i for i, side in enumerate(sides) if side >= self.params.min_face]

    def _frame_crops(self, frame: Frame) -> np.ndarray:
        """The crops of the faces the stage judges (none without faces or below ``min_face``)."""
        judged = self._judged(frame)[1] if frame.faces else []
        if not judged:
            return np.zeros((0, self.size, self.size, 3), np.uint8)
        return self.classifier.crops(frame.image, [frame.faces[i] for i in judged])

    def _rows(self, crops: np.ndarray) -> np.ndarray:
        return self.classify(crops)

    def _decide(self, frame: Frame, probs: np.ndarray) -> Frame:
        """The frame's faces with their calls from ``probs`` (one per judged face), in order."""
        if not frame.faces:
            self._forget(frame.index)
            return frame
        p = self.params
        sides, judged = self._judged(frame)
        prob_of = dict(zip(judged, probs, strict=True))
        out = []
        for i, face in enumerate(frame.faces):
            if i not in prob_of:
                reason = f"{SMALL}: face {sides[i]:.0f} px < min_face {p.min_face} px"
                out.append(face.replace(fake=None, fake_reason=reason))
            elif face.track_id is None:
                out.append(face.replace(fake=float(prob_of[i]), fake_reason=None))
            else:
                out.append(self._track_call(face, frame.index, float(prob_of[i])))
        for face in out:
            call = is_fake(face, self.threshold)
            if call is None:
                self.counters["abstained"] += 1
            elif call:
                self.counters["flagged"] += 1
        self._forget(frame.index)
        return frame.replace(faces=tuple(out), fake_threshold=self.threshold)

    def _track_call(self, face: Face, index: int, prob: float) -> Face:
        """The face with its track's smoothed score and the hysteresis call (module docstring)."""
        assert face.track_id is not None
        track = self._tracks.get(face.track_id)
        if track is None:
            track = self._tracks[face.track_id] = _Track(self.params.smooth)
        track.probs.append(prob)
        track.last_seen = index
        score = math.fsum(track.probs) / len(track.probs)
        thr, p = self.threshold, self.params
        track.run = track.run + 1 if score >= thr else 0
        if track.fake:
            track.fake = score >= thr - p.release
            if track.fake and score < thr:
                return face.replace(
                    fake=score,
                    fake_reason=f"{HELD}: track stays fake until its score < {thr - p.release:.2f}",
                )
        elif track.run >= p.confirm:
            track.fake = True
        elif score >= thr:
            reason = f"{PENDING}: {track.run} of {p.confirm} detections at or above {thr:.2f}"
            return face.replace(fake=None, fake_reason=reason)
        return face.replace(fake=score, fake_reason=None)

    def _forget(self, index: int) -> None:
        if self._tracks:
            limit = self.params.forget
            for t in [t for t, tr in self._tracks.items() if index - tr.last_seen > limit]:
                del self._tracks[t]

    def close(self) -> None:
        self._tracks = {}

    def apply_params(self, params: StageParams, prepared: object = None) -> None:
        """A runtime ``threshold`` (``--serve``) replaces the one resolved at open; null keeps it."""
        super().apply_params(params, prepared)
        if getattr(params, "threshold", None) is not None:
            self.threshold = float(params.threshold)  # type: ignore[attr-defined]
