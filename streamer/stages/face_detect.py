"""``face_detect``: find faces (MediaPipe BlazeFace or an OpenCV cascade) and track them.

Example config::

    - name: faces
      type: face_detect
      range: short          # short (faces near the camera, fast) | full (small/far faces)
      min_score: 0.65
      every: 2              # detect on every 2nd frame, track in between
      detect_width: 640     # detect on a 640-wide copy (haar, 4K); boxes stay in frame pixels
      smooth: true          # One-Euro filter per track: steady boxes/keypoints on a still face

Adds to each frame ``faces``: one :class:`~streamer.frame.Face` per face, best score first,
with ``box`` (pixels of the frame), ``score``, ``keypoints`` (six BlazeFace points: right eye,
left eye, nose, mouth, right and left ear; none with ``haar``) and ``track_id``, which stays
the same while a face moves (IoU tracking, :mod:`streamer.faces.tracker`).

The trade-off of ``every: k``: detection costs most of this stage, tracking almost nothing, so
``k`` divides the cost; in between, faces are the ones seen at the last detection moved at
their recent velocity, so a face that appears is found up to ``k - 1`` frames late and boxes
lag a fast turn. The first time the default model is needed it is fetched into the model cache
(``streamer models pull`` does that ahead of time; see :mod:`streamer.faces.model_store`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from streamer.frame import Ann, Face, Frame
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io


def _clip(face: Face, w: int, h: int) -> Face | None:
    x1, y1, x2, y2 = face.box
    box = (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return face if box == face.box else face.replace(box=box)


@register("face_detect")
class FaceDetect(Stage):
    """Reads the picture; adds faces (box, score, keypoints, track id)."""

    class Params(StageParams):
        backend: Literal["mediapipe", "haar"] = "mediapipe"
        """mediapipe (BlazeFace, keypoints) or haar (OpenCV cascade, no download, boxes only)."""

        range: Literal["short", "full"] = "short"
        """BlazeFace model: short (faces within ~2 m, fastest) or full (smaller, farther faces)."""

        min_score: float = Field(default=0.65, ge=0.0, le=1.0)
        """Lowest detection score kept (mediapipe); 0.65 keeps true faces and drops face-like objects."""

        max_faces: int | None = Field(default=None, ge=1)
        """Keep at most this many faces per frame (the highest scores); default all."""

        min_size: int = Field(default=0, ge=0)
        """Drop faces whose box is smaller than this many pixels on its shorter side."""

        every: int = Field(default=1, ge=1, le=1000)
        """Detect on every k-th frame and track the faces in between (cheaper, a little laggier)."""

        model: str | None = None
        """Path of a BlazeFace .tflite to use instead of the cached default for ``range``."""

        detect_width: int | None = Field(default=None, ge=32, le=16384)
        """Detect on a copy scaled to this width (pays for haar and 4K, not BlazeFace at 720p)."""

        iou_threshold: float = Field(default=0.3, gt=0.0, le=1.0)
        """Tracking: least box overlap (IoU) for a face to keep the track id of the previous one."""

        smooth: bool = False
        """Smooth each track's box and keypoints (One-Euro filter): steady crops on a still face."""

    params: Params

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        assert isinstance(params, FaceDetect.Params)
        keypoints = (Ann.KEYPOINTS,) if params.backend == "mediapipe" else ()
        return stage_io(writes=(Ann.FACES, Ann.TRACKS, *keypoints))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detector: Any = None
        self.tracker: Any = None
        self._count = 0

    def open(self) -> None:
        from streamer.faces.detect import FaceDetector
        from streamer.faces.tracker import IouTracker

        p = self.params
        model = None if p.model is None else self.ctx.resolve(p.model)
        self.detector = FaceDetector(
            backend=p.backend,
            range=p.range,
            min_score=p.min_score,
            max_faces=p.max_faces,
            min_size=p.min_size,
            model_path=model,
            detect_width=p.detect_width,
            log=self.log,
        )
        # keep a track alive over ~1 s of missed detections, whatever `every` is
        self.tracker = IouTracker(
            iou_threshold=p.iou_threshold, max_missed=max(2, 30 // p.every), smooth=p.smooth
        )
        self._count = 0

    def process(self, frame: Frame) -> Frame:
        if self._count % self.params.every == 0:
            faces = self.tracker.update(self.detector.detect(frame.image), time=frame.time)
        else:
            moved = (_clip(f, frame.width, frame.height) for f in self.tracker.predict())
            faces = [f for f in moved if f is not None]
        self._count += 1
        return frame.replace(faces=tuple(faces))

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None
