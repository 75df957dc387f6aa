"""IoU tracking: a stable id per face across frames, and boxes for frames between detections.

Each detection frame, :meth:`IouTracker.update` matches the new faces to the live tracks by the
overlap (IoU) of each face with the track's box predicted for this frame, greedily from the
best pair down, accepting pairs with IoU >= ``iou_threshold``. A matched face takes the track's
id; an unmatched one starts a new track. A track that finds no face keeps coasting on its
velocity for up to ``max_missed`` detection frames before it is dropped, so a face missed on a
frame or two keeps its id when it comes back.

Greedy matching instead of Hungarian: with a handful of faces that overlap little (faces in a
picture rarely do) the two agree, and greedy costs nothing to explain or run.

Between detections (``face_detect`` with ``every: k``) :meth:`predict` moves every track seen
at the last detection by its constant velocity (per frame, smoothed over detections) and
returns its face with the box and keypoints moved along, so a panning face stays covered.

With ``smooth=True`` each track also runs a One-Euro filter (:mod:`streamer.faces.smooth`) over
its box and keypoints, so a still face's crop stops shaking while a moving face is followed
(matching still uses the raw boxes). ``update`` takes the frame's time for the filter's clock;
without it frames are taken to be 1/30 s apart.

Example (what the stage does)::

    tracker = IouTracker()
    for i, frame in enumerate(frames):
        faces = tracker.update(detector.detect(frame)) if i % k == 0 else tracker.predict()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamer.faces.smooth import OneEuro
from streamer.frame import Face


def iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2); 0 for empty boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


#: The keypoints' filter (positions relative to the box, in box heights): a face's shape changes
#: slowly (head turns), so it is filtered harder than the box; its own speed still opens it.
SHAPE_MIN_CUTOFF = 0.5
SHAPE_BETA = 5.0


@dataclass
class _Track:
    id: int
    box: np.ndarray  # float64 (4,): where the track is now (detected or predicted)
    velocity: np.ndarray  # float64 (4,): box change per frame
    face: Face  # the last detected face (score, keypoints) with its box
    last_box: np.ndarray  # the box of that detection
    frames_since: int = 0  # frames since that detection
    missed: int = 0  # detection frames in a row without a match
    filter: OneEuro | None = None  # box smoother (smooth=True)
    shape_filter: OneEuro | None = None  # keypoints-within-the-box smoother
    time: float | None = None  # the time of the last detection, for the filter's clock


class IouTracker:
    """Gives faces track ids that stay the same while a face moves; see the module doc."""

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_missed: int = 5,
        velocity: bool = True,
        smoothing: float = 0.5,
        smooth: bool = False,
        min_cutoff: float | None = None,
        beta: float | None = None,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"IouTracker iou_threshold: expected 0 < t <= 1, got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"IouTracker max_missed: expected >= 0, got {max_missed}")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.velocity = velocity
        self.smoothing = float(smoothing)
        self.smooth = smooth
        self._euro = {k: v for k, v in (("min_cutoff", min_cutoff), ("beta", beta)) if v is not None}
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def track_ids(self) -> list[int]:
        """Ids of the live tracks."""
        return [t.id for t in self._tracks]

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so old ids are never reused)."""
        self._tracks = []

    def _advance(self) -> None:
        for t in self._tracks:
            t.frames_since += 1
            if self.velocity:
                t.box = t.box + t.velocity

    def update(self, faces: Sequence[Face], time: float | None = None) -> list[Face]:
        """The faces detected on the next frame, each with its ``track_id``, in the given order
        (box and keypoints smoothed per track when ``smooth``; ``time``: the frame's, seconds)."""
        self._advance()
        boxes = [np.asarray(f.box, np.float64) for f in faces]
        pairs = []
        for ti, track in enumerate(self._tracks):
            for fi, b in enumerate(boxes):
                v = iou(track.box, b)
                if v >= self.iou_threshold:
                    pairs.append((v, ti, fi))
        pairs.sort(key=lambda p: -p[0])
        track_of: dict[int, _Track] = {}
        used: set[int] = set()
        for _v, ti, fi in pairs:
            if ti in used or fi in track_of:
                continue
            used.add(ti)
            track_of[fi] = self._tracks[ti]
        out: list[Face] = []
        for fi, (face, box) in enumerate(zip(faces, boxes, strict=True)):
            t = track_of.get(fi)
            if t is None:
                t = _Track(self._next_id, box, np.zeros(4), face, box)
                self._next_id += 1
                self._tracks.append(t)
            else:
                step = (box - t.last_box) / max(1, t.frames_since)
                t.velocity = self.smoothing * t.velocity + (1.0 - self.smoothing) * step
                t.box, t.last_box, t.missed = box, box, 0
            if self.smooth:
                face = self._smoothed(t, face, time)
            t.face, t.frames_since = face, 0
            out.append(face.replace(track_id=t.id))
        matched = {id(t) for t in track_of.values()}
        for t in self._tracks:
            if id(t) not in matched and t.frames_since > 0:
                t.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return out

    def _smoothed(self, t: _Track, face: Face, time: float | None) -> Face:
        """``face`` with its box through the track's One-Euro filter (opened by the box's speed) and
        its keypoints, relative to the box, through a second one (opened by their own mean speed):
        a moving face moves the keypoints with the box at once, while their noise within the
        face, which is what turns the eye line, stays filtered."""
        if t.filter is None:
            t.filter = OneEuro(**self._euro, lead=4)
            t.shape_filter = OneEuro(min_cutoff=SHAPE_MIN_CUTOFF, beta=SHAPE_BETA, lead=-1)
        dt = (time - t.time) if time is not None and t.time is not None else max(1, t.frames_since) / 30.0
        t.time = time
        h = max(face.box[3] - face.box[1], 1.0)
        box = t.filter(np.asarray(face.box, np.float64), dt=dt, scale=h)
        x1, y1, x2, y2 = (float(v) for v in box)
        if not face.keypoints:
            return face.replace(box=(x1, y1, max(x1, x2), max(y1, y2)))
        cx, cy = (face.box[0] + face.box[2]) / 2.0, (face.box[1] + face.box[3]) / 2.0
        flat = np.array([((k[0] - cx) / h, (k[1] - cy) / h) for k in face.keypoints], np.float64).ravel()
        assert t.shape_filter is not None
        rel = t.shape_filter(flat, dt=dt).tolist()
        sh, scx, scy = max(y2 - y1, 1.0), (x1 + x2) / 2.0, (y1 + y2) / 2.0
        keypoints = tuple(
            (float(scx + rel[2 * i] * sh), float(scy + rel[2 * i + 1] * sh)) for i in range(len(rel) // 2)
        )
        return face.replace(box=(x1, y1, max(x1, x2), max(y1, y2)), keypoints=keypoints)

    def predict(self) -> list[Face]:
        """Faces for the next frame without detection: every track matched at the last detection,
        moved by its velocity (box and keypoints), with its id."""
        self._advance()
        out = []
        for t in self._tracks:
            if t.missed:
                continue
            out.append(_moved(t.face, t.last_box, t.box).replace(track_id=t.id))
        return out


def _moved(face: Face, old: np.ndarray, new: np.ndarray) -> Face:
    """``face`` with its box set to ``new`` and its keypoints carried from ``old`` to ``new``."""
    if np.array_equal(old, new):
        return face
    keypoints = face.keypoints
    if keypoints is not None:
        sx = (new[2] - new[0]) / max(old[2] - old[0], 1e-6)
        sy = (new[3] - new[1]) / max(old[3] - old[1], 1e-6)
        keypoints = tuple(
            (float(new[0] + (x - old[0]) * sx), float(new[1] + (y - old[1]) * sy)) for x, y in keypoints
        )
    x1, y1, x2, y2 = (float(v) for v in new)
    return face.replace(box=(x1, y1, max(x1, x2), max(y1, y2)), keypoints=keypoints)
