"""verify: who is each face? Nearest enrolled person by cosine distance, smoothed per track.

Per frame: every face is cropped (square, eyes level when keypoints exist) and all crops go
through the embedder in **one** batched call; each embedding is compared with every person of
the gallery (one matrix product). A face is that person when the distance is below
``threshold``, else unknown.

Single frames are noisy (blur, a turned head), so with track ids from face_detect the decision
is smoothed over the last ``smooth`` frames of the track:

- ``identity``: the majority of the per-frame decisions in the window (a person or unknown; a
  tie goes to the most recent of the tied decisions), so one bad frame does not flip a name;
- ``distance``: the mean distance over the window to that person (for unknown: the mean distance
  to the nearest person each frame), so it agrees with ``identity``.

Offline, ``batch_frames: N`` embeds the faces of N frames in one call (``streamer/stages/_held.py``);
the decisions are the same as frame by frame.

Faces without a track id get the raw per-frame decision and distance. Tracks not seen for
``forget`` frames are dropped, so memory stays bounded. Frames without faces pass unchanged.
With an empty gallery every face is unknown with distance null.

Example::

    - name: who
      type: verify
      gallery: samples/astronaut_gallery.json
      threshold: 0.5        # default: the gallery's, else the model's

Foreign embedders (ArcFace-style float models) need ``size`` (if not fixed by the model),
``mean`` and ``std`` in 0..255 units (ArcFace: 127.5 and 127.5) or ``input_range``, and
``channel_order`` (``layout`` when the input shape does not show it): the same parameters,
resolved the same way, as translate and deepfake.
"""

from __future__ import annotations

from collections import Counter, deque

import numpy as np
from pydantic import Field

from streamer.errors import StreamerError
from streamer.frame import Ann, Frame
from streamer.stages._held import HeldFaces
from streamer.stages._model_params import FaceModelParams
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io


class _Track:
    """The last ``k`` per-frame results of one track: distance rows [P] and decisions."""

    __slots__ = ("rows", "decisions", "last_seen")

    def __init__(self, k: int) -> None:
        self.rows: deque[np.ndarray] = deque(maxlen=k)
        self.decisions: deque[int] = deque(maxlen=k)  # person index, -1 unknown
        self.last_seen = 0


@register("verify")
class Verify(HeldFaces, Stage):
    """Reads faces, writes `identity` (null when unknown) and `distance` from a face gallery."""

    class Params(FaceModelParams):
        gallery: str
        """Gallery file made by `streamer enroll` (relative to the working directory or graph)."""
        model: str = "models/face_embedder.onnx"
        """Embedding ONNX model; must be the one the gallery was enrolled with. The default is dlib's
        ResNet face descriptor, built once by `python -m export dlib-resnet`."""
        threshold: float | None = Field(default=None, ge=0.0, le=2.0)
        """Largest cosine distance that still counts as a match (default: the gallery's, else the model's)."""
        smooth: int = Field(default=5, ge=1, le=100)
        """Per-track window in frames: majority identity and mean distance over the last k frames."""
        forget: int = Field(default=30, ge=1, le=100000)
        """Drop a track's history after it has not been seen for this many frames."""

    params: Params
    runtime_params = frozenset({"threshold"})  # changeable while running (--serve)

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        return stage_io(reads=(Ann.FACES,), uses=(Ann.KEYPOINTS, Ann.TRACKS), writes=(Ann.IDENTITIES,))

    def open(self) -> None:
        from streamer.faces.embed import Embedder
        from streamer.faces.gallery import Gallery

        p = self.params
        self.embedder = Embedder(
            self.ctx.resolve(p.model),
            providers=p.providers,
            threads=p.threads,
            size=p.size,
            mean=p.mean,
            std=p.std,
            channel_order=p.channel_order,
            margin=p.margin,
            name=self.name,
            input_range=p.input_range,
            layout=p.layout,
        )
        self.gallery = Gallery.load(
            self.ctx.resolve(p.gallery), expected_embedder_id=self.embedder.embedder_id
        )
        threshold = p.threshold
        if threshold is None:
            threshold = (
                self.gallery.threshold if self.gallery.threshold is not None else self.embedder.threshold
            )
        if threshold is None:
            raise StreamerError(
                f"{self.name}: no threshold in the gallery or the model; "
                f"set one, e.g. --set {self.name}.threshold=0.5"
            )
        self.threshold = float(threshold)
        # one warm-up call so the first real frame does not pay for allocations
        probe = self.embedder.embed_crops(np.zeros((1, self.embedder.size, self.embedder.size, 3), np.uint8))
        if self.gallery.dim is not None and probe.shape[1] != self.gallery.dim:
            raise StreamerError(
                f"{self.name}: the model gives {probe.shape[1]}-number embeddings, gallery "
                f"{self.gallery.path} holds {self.gallery.dim}; re-enroll with this model"
            )
        self._names = self.gallery.names
        self._tracks: dict[int, _Track] = {}
        self._hold_frames(p.batch_frames, self.ctx.mode, self.embedder)
        self.log(
            f"{self.embedder.describe()}; gallery {self.gallery.path}: {len(self._names)} "
            f"{'person' if len(self._names) == 1 else 'people'}, threshold {self.threshold:g}"
        )

    def _frame_crops(self, frame: Frame) -> np.ndarray:
        """The crops of the frame's faces (none without faces or an empty gallery)."""
        if not frame.faces or not self._names:
            return np.zeros((0, self.embedder.size, self.embedder.size, 3), np.uint8)
        return self.embedder.crops(frame.image, frame.faces)

    def _rows(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.embed_crops(crops)

    def _decide(self, frame: Frame, emb: np.ndarray) -> Frame:
        """The frame's faces named from their embeddings ``emb`` [faces, D], in frame order."""
        faces = frame.faces
        if not faces:
            self._forget(frame.index)
            return frame
        if not self._names:
            return frame.replace(faces=tuple(f.replace(identity=None, distance=None) for f in faces))
        dist = self.gallery.distances(emb)  # [N, P]
        best = dist.argmin(axis=1)
        best_d = dist[np.arange(len(faces)), best]
        out = []
        for i, face in enumerate(faces):
            decision = int(best[i]) if best_d[i] < self.threshold else -1
            if face.track_id is None:
                who, d = decision, float(best_d[i])
            else:
                who, d = self._smoothed(face.track_id, frame.index, dist[i], decision)
            out.append(face.replace(identity=self._names[who] if who >= 0 else None, distance=d))
        self._forget(frame.index)
        return frame.replace(faces=tuple(out))

    def _smoothed(self, track_id: int, index: int, row: np.ndarray, decision: int) -> tuple[int, float]:
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = _Track(self.params.smooth)
        track.rows.append(row)
        track.decisions.append(decision)
        track.last_seen = index
        if len(track.decisions) == 1:
            return decision, float(row[decision] if decision >= 0 else row.min())
        counts = Counter(track.decisions)
        top = max(counts.values())
        # tie: the most recent of the tied decisions wins
        who = next(d for d in reversed(track.decisions) if counts[d] == top)
        if who >= 0:
            d = float(np.mean([r[who] for r in track.rows]))
        else:
            d = float(np.mean([r.min() for r in track.rows]))
        return who, d

    def _forget(self, index: int) -> None:
        if not self._tracks:
            return
        limit = self.params.forget
        stale = [t for t, tr in self._tracks.items() if index - tr.last_seen > limit]
        for t in stale:
            del self._tracks[t]

    def close(self) -> None:
        self._tracks = {}

    def apply_params(self, params: StageParams, prepared: object = None) -> None:
        """A runtime ``threshold`` (``--serve``) replaces the one resolved at open; null keeps it."""
        super().apply_params(params, prepared)
        if getattr(params, "threshold", None) is not None:
            self.threshold = float(params.threshold)  # type: ignore[attr-defined]
