"""translate: run an image-to-image ONNX model (style, CycleGAN, AnimeGAN) on frames or faces.

Trade-offs it exposes:

- ``size``: style networks cost grows with pixels; running at 512 on the longer side and scaling
  the output back to the frame is often the difference between real time and not.
- ``every``: translate every k-th frame only; frames in between pass unchanged with
  ``translated=False`` so a later stage (a frame predictor, say) may fill them in.
  With ``region: faces`` every frame also carries the face crops in
  ``face_crops`` (:class:`streamer.geometry.FaceCrops`: the crop matrices; on
  translated frames also the raw and the translated crops), which ``predict`` fills faces from.
- ``region: faces``: crop each detected face (square, eyes level when keypoints are present,
  ``margin`` around the box), translate the crops ``batch`` at a time, paste them back through a
  feathered mask. A frame with no faces has nothing to translate and passes unchanged, marked
  ``translated=True`` (it is done, not skipped).
- ``mask: face`` (region faces): paste back through a feathered ellipse that follows the face
  (keypoints: eyes, nose, mouth, ears) instead of the crop's square, so hair, background and
  neighbours are never touched; ``colors: chroma`` keeps the face's own colours (the style's
  brightness with the source's Cr/Cb), ``colors: match`` moves the style's colours to the face's.
- ``only`` (region faces, after a ``verify`` stage): ``enrolled`` translates only faces with an
  identity, ``unknown`` only faces without one (stylize everyone but the verified people).
- ``batch_frames`` (offline graphs): hold this many frames and translate them in one pass: all
  their face crops go to the model ``batch`` at a time (whole frames: ``batch_frames`` at a
  time), so a GPU gets full batches even with one face per frame. Batch sizes are padded to the
  bins 1, 2, 4, ... (``streamer.onnx.bins_up_to``): the session sees a few fixed shapes however
  many faces each frame has, so nothing is re-planned (no TensorRT engine per face count). The
  held frames leave in order, after the pass; end of stream flushes the rest. Live graphs keep
  1 (holding frames would add their latency). On a GPU, faces are padded to bins also with 1.

Example::

    - name: style
      type: translate
      model: models/face_drawing.onnx
      region: faces
      every: 2

Models exported by ``python -m export`` carry their conventions in metadata; for other ("foreign")
ONNX models give ``input_range`` (or ``mean`` and ``std`` in 0..255 units), ``layout`` and
``channel_order``: the same parameters, resolved the same way, as verify and deepfake.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from streamer.frame import Ann, Face, Frame
from streamer.geometry import FaceCrops, crop_matrix, crop_with, eyes_of, face_mask, paste_into
from streamer.stages._model_params import ForeignInputParams
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io


@register("translate")
class Translate(Stage):
    """Runs an image-to-image ONNX model on the whole frame or on each face; sets `translated`."""

    class Params(ForeignInputParams):
        model: str
        """Path of the ONNX model (relative to the working directory or the graph file)."""
        region: Literal["frame", "faces"] = "frame"
        """`frame`: the whole picture; `faces`: each face found by an earlier face_detect."""
        only: Literal["all", "enrolled", "unknown"] = "all"
        """region faces: translate all faces, only those a verify stage identified, or only unknown ones."""
        size: int | None = Field(default=None, ge=16, le=8192)
        """frame: run at this size on the longer side and scale back; faces: crop size
        (default: the model's preferred size, else 256)."""
        every: int = Field(default=1, ge=1, le=1000)
        """Translate frames whose index is a multiple of this; others pass with translated=false."""
        batch: int = Field(default=8, ge=1, le=256)
        """Faces per model call (region faces)."""
        batch_frames: int = Field(default=1, ge=1, le=64)
        """Offline: frames translated per pass (their faces, or the frames, batched per model call)."""
        margin: float = Field(default=0.25, ge=0.0, le=2.0)
        """Face crops: extra context on each side, as a fraction of the face box's longer side."""
        feather: float = Field(default=0.1, ge=0.0, le=0.5)
        """Face paste-back: width of the soft edge, as a fraction of the crop size (of the face
        ellipse's axes with mask: face)."""
        mask: Literal["square", "face"] = "square"
        """Face paste-back through the feathered crop square, or through an ellipse that follows the
        face (from its keypoints; else the box): nothing outside the face changes."""
        colors: Literal["model", "chroma", "match"] = "model"
        """Face paste-back colours: the model's, the face's own (chroma kept, the style's brightness),
        or the model's moved to the face's colour mean/spread (Lab)."""

        @model_validator(mode="after")
        def _only_needs_faces(self) -> Translate.Params:
            if self.only != "all" and self.region != "faces":
                raise ValueError(
                    f"only: {self.only} needs region: faces (identities belong to faces); "
                    "set region: faces or remove only"
                )
            return self

    params: Params

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        assert isinstance(params, Translate.Params)
        if params.region == "frame":
            return stage_io(writes=(Ann.TRANSLATED,))
        needs = (Ann.FACES,) + ((Ann.IDENTITIES,) if params.only != "all" else ())
        return stage_io(
            reads=needs, uses=(Ann.KEYPOINTS, Ann.TRACKS), writes=(Ann.TRANSLATED, Ann.FACE_CROPS)
        )

    def open(self) -> None:
        from streamer.onnx import OnnxModel, bins_up_to

        p = self.params
        self.model = OnnxModel(
            self.ctx.resolve(p.model),
            providers=p.providers,
            threads=p.threads,
            name=self.name,
            input_range=p.input_range,
            mean=p.mean,
            std=p.std,
            layout=p.layout,
            channel_order=p.channel_order,
        )
        self.log(self.model.describe())
        self.hold = p.batch_frames if self.ctx.mode == "offline" else 1
        if p.batch_frames > 1 and self.hold == 1:
            self.log(f"batch_frames: {p.batch_frames} ignored in a live graph (it would add latency)")
        if p.region == "faces" and (self.hold > 1 or self.model.on_device):
            self.model.batch_bins = bins_up_to(p.batch)
        elif self.hold > 1:
            self.model.batch_bins = bins_up_to(self.hold)
        self._pending: list[Frame] = []  # frames held for the next pass (batch_frames)
        self._prepared: dict[int, tuple[FaceCrops, tuple[np.ndarray, ...]]] = {}  # id(frame) -> crops
        self._ready: deque[np.ndarray] = deque()  # translated crops of the pass, in order
        if p.region == "faces":
            self.crop_size = self.model.round_size(p.size) if p.size else self.model.preferred_size(256)
            self.model.warmup(self.crop_size)
        else:
            self.model.warmup(self.model.round_size(p.size) if p.size else None)
        self.counters.setdefault("skipped", 0)
        self._warned_unverified = False

    def process(self, frame: Frame) -> Frame | Sequence[Frame]:
        if self.hold > 1:
            self._pending.append(frame)
            due = sum(1 for f in self._pending if f.index % self.params.every == 0)
            return self._pass() if due >= self.hold else []
        return self._one(frame)

    def flush(self) -> Sequence[Frame]:
        """End of stream: translate the frames still held (batch_frames)."""
        return self._pass() if self._pending else []

    def _pass(self) -> list[Frame]:
        """Translate the held frames in one pass (see ``batch_frames`` in the module doc)."""
        frames, self._pending = self._pending, []
        todo = [f for f in frames if f.index % self.params.every == 0]
        if self.params.region == "frame":
            done = dict(zip((id(f) for f in todo), self._frames([f.image for f in todo]), strict=True))
            return [
                frame.replace(image=done[id(frame)], translated=True)
                if id(frame) in done
                else self._one(frame)
                for frame in frames
            ]
        crops: list[np.ndarray] = []
        for f in todo:
            geometry = self._geometry(f, self._selected(f))
            size = self.crop_size
            raw = tuple(crop_with(f.image, m, (size, size)) for m in geometry.matrices)
            self._prepared[id(f)] = (geometry, raw)
            crops.extend(raw)
        try:
            if crops:
                self._ready.extend(self.model.run(np.stack(crops)))
            out = [self._one(frame) for frame in frames]
            assert not self._ready, "every translated crop is pasted"
        finally:
            self._prepared.clear()
            self._ready.clear()
        return out

    def _frames(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """``_frame`` for several pictures: same-size runs go to the model together."""
        import cv2

        out: list[np.ndarray] = []
        start = 0
        while start < len(images):
            shape = images[start].shape
            end = start
            while end < len(images) and images[end].shape == shape:
                end += 1
            h, w = shape[:2]
            rw, rh = self.run_size(w, h)
            interp = cv2.INTER_AREA if rw * rh < w * h else cv2.INTER_LINEAR
            batch = [
                im if (rw, rh) == (w, h) else cv2.resize(im, (rw, rh), interpolation=interp)
                for im in images[start:end]
            ]
            results = self.model.run(np.stack(batch))
            out.extend(
                r if (rw, rh) == (w, h) else cv2.resize(r, (w, h), interpolation=cv2.INTER_LINEAR)
                for r in results
            )
            start = end
        return out

    def _crops(self, frame: Frame) -> tuple[FaceCrops, tuple[np.ndarray, ...]]:
        """The geometry and raw crops of ``frame``'s selected faces (made once per pass)."""
        prepared = self._prepared.pop(id(frame), None)
        if prepared is not None:
            return prepared
        geometry = self._geometry(frame, self._selected(frame))
        size = self.crop_size
        return geometry, tuple(crop_with(frame.image, m, (size, size)) for m in geometry.matrices)

    def _run_crops(self, crops: tuple[np.ndarray, ...]) -> Sequence[np.ndarray]:
        """The translated ``crops``: from this pass's batched results, or one model call."""
        if self._ready:
            return [self._ready.popleft() for _ in crops]
        return list(self.model.run(np.stack(crops)))

    def _one(self, frame: Frame) -> Frame:
        if frame.index % self.params.every != 0:
            self.counters["skipped"] = self.counters.get("skipped", 0) + 1
            if self.params.region == "faces":  # the crops a predict stage fills the faces from
                crops = self._geometry(frame, self._selected(frame))
                return frame.replace(translated=False, face_crops=crops)
            return frame.replace(translated=False)
        if self.params.region == "faces":
            return self._faces(frame)
        return frame.replace(image=self._frame(frame.image), translated=True)

    def run_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) the model runs at for a frame of ``width`` x ``height`` (``size`` on the
        longer side, both rounded to the model's size multiple); the frame's own size without
        ``size``."""
        if self.params.size is None:
            return width, height
        m = self.model.size_multiple
        scale = self.params.size / max(width, height)
        return (max(m, round(width * scale / m) * m), max(m, round(height * scale / m) * m))

    def _frame(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        rw, rh = self.run_size(w, h)
        if (rw, rh) == (w, h):
            return self.model.run(image[None])[0]
        interp = cv2.INTER_AREA if rw * rh < w * h else cv2.INTER_LINEAR
        small = cv2.resize(image, (rw, rh), interpolation=interp)
        out = self.model.run(small[None])[0]
        return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)

    def _selected(self, frame: Frame) -> tuple[Face, ...]:
        """The faces ``only`` asks for: all, those with an identity, or those without."""
        only = self.params.only
        if only == "all":
            return frame.faces
        if frame.faces and not self._warned_unverified and all(f.distance is None for f in frame.faces):
            self._warned_unverified = True
            self.log(f"only: {only}, but no face carries a verify result; put a verify stage before this one")
        enrolled = only == "enrolled"
        return tuple(f for f in frame.faces if (f.identity is not None) == enrolled)

    def _geometry(self, frame: Frame, faces: tuple[Face, ...]) -> FaceCrops:
        """The crop matrices of ``faces`` (no pixels: a skipped frame only needs where they are)."""
        p = self.params
        mats = tuple(
            crop_matrix(
                f.box, self.crop_size, frame.width, frame.height, margin=p.margin, eyes=eyes_of(f.keypoints)
            )
            for f in faces
        )
        return FaceCrops(tuple(f.track_id for f in faces), mats, self.crop_size, p.feather)

    def _mask(self, face: Face, m: np.ndarray) -> np.ndarray:
        """The face-shaped paste mask of ``face`` in the pixels of its crop (matrix ``m``)."""
        a = np.asarray(m, np.float64)
        kps = None
        if face.keypoints is not None:
            kps = np.asarray(face.keypoints, np.float64) @ a[:, :2].T + a[:, 2]
        x1, y1, x2, y2 = face.box
        corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64) @ a[:, :2].T + a[:, 2]
        box = np.concatenate([corners.min(0), corners.max(0)])
        return face_mask(self.crop_size, kps, box, self.params.feather)

    def _faces(self, frame: Frame) -> Frame:
        faces = self._selected(frame)
        geometry, raw = self._crops(frame)
        size = self.crop_size
        if not raw:
            crops = dataclasses.replace(geometry, raw=(), styled=())
            return frame.replace(translated=True, face_crops=crops)
        import cv2

        out = frame.image.copy()
        styled: list[np.ndarray] = []
        b = self.params.batch
        for start in range(0, len(raw), b):
            results = self._run_crops(raw[start : start + b])
            chunk = zip(results, geometry.matrices[start : start + b], faces[start : start + b], strict=True)
            for result, m, face in chunk:
                if result.shape[:2] != (size, size):  # a model that changes size (upscalers)
                    result = cv2.resize(result, (size, size), interpolation=cv2.INTER_AREA)
                mask = self._mask(face, m) if self.params.mask == "face" else None
                color = {"model": False, "chroma": "chroma", "match": "lab"}[self.params.colors]
                paste_into(out, result, m, feather=self.params.feather, mask=mask, color_match=color)  # type: ignore[arg-type]
                styled.append(result)
        crops = dataclasses.replace(geometry, raw=raw, styled=tuple(styled))
        return frame.replace(image=out, translated=True, face_crops=crops)
