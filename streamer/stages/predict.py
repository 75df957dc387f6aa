"""predict: fill the output frames that were not stylized or never arrived, with a recurrent predictor.

Trade-off: stylization is the expensive stage. ``translate every: 2`` halves its cost offline, and
in live mode a busy machine drops frames at the graph's entrance (``max_in_flight``); this stage
puts the missing frames back so the output keeps the source's full frame rate, at the price of predicted (not
stylized) pictures in between. It carries the predictor's recurrent state from frame to frame
(``models/predictor.onnx``, ``python -m export predictor``; see ``models/predictor.md``).

What it does per frame, in source order:

- faces (frames carrying ``face_crops``, which translate ``region: faces`` leaves):
  only the faces are predicted. Outside them the source picture is already what translation
  would have produced, so a skipped frame keeps its own picture and each face gets the last
  translated crop of its track, predicted forward (the model sees the 256 x 256 crop at 1/8,
  32 x 32: ~1.3 ms) and pasted back with translate's feathered edge. The prediction happens in the
  track's crop window (the matrix of its last translated crop), not in this frame's own crop,
  whose alignment jitters with the detector. Each track carries its own recurrent state. A face
  with no translated crop yet (a new track) keeps its source picture (counter
  ``faces_unfilled``); frames dropped in live mode are repeats of the last output (counted
  ``repeated``: there is no picture of theirs to paste faces into). Everything below is the
  whole-frame path (translate ``region: frame``);
- a frame stylized upstream (``translated`` true or None) passes unchanged; the predictor still
  runs once on it so its state follows the real pictures;
- a frame marked ``translated=False`` (translate ``every: k``) gets a predicted picture: the last
  output warped by the motion between the last raw picture seen and this one;
- a jump in ``index`` (live drops: those frames never reached this stage) is filled first, one
  predicted frame per missing index, extrapolating the motion between the last two frames
  that were really stylized. Their
  ``pts`` are interpolated between the neighbours, ``pts_prev + round(k * (pts - pts_prev) /
  (gap + 1))`` (exact for constant frame rate); they carry no audio (the real frame keeps its
  own) and no faces. Frames dropped before the first one that arrives are repeats of it, ``pts``
  stepping back by one frame of ``stream.rate``. Nothing is ever missing after the last frame:
  end of stream never displaces a frame from a live queue, so the source's last frame arrives
  (and a run stopped early, ``--max-frames``, is not padded to the file's length).
- after ``max_gap`` predicted frames in a row, the last output is repeated instead (the
  prediction drifts); counted as ``repeated``.

Frames leave in index order (predicted ones before the real frame that revealed the gap).
Counters: ``predicted``, ``repeated`` (frames), ``faces_unfilled``. Predicted frames are marked
``translated=True`` and ``predicted=True``. A filled gap arrives as a burst; recording sinks
(``encode``) block, so none of it is dropped after this stage.

Example (``graphs/file_stylize_fast.yaml``)::

    - name: style
      type: translate
      model: models/face_drawing.onnx
      region: faces
      every: 2
    - name: fill
      type: predict
      max_gap: 6
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from streamer.errors import StreamerError
from streamer.frame import Ann, Frame
from streamer.geometry import FaceCrops, crop_with, paste_into
from streamer.model_contract import (
    FAMILY_PREDICTOR,
    PREDICTOR_INPUTS,
    PREDICTOR_OUTPUTS,
    PREDICTOR_STATE_OUTPUT,
    predictor_feeds,
    render_prediction,
)
from streamer.stages._model_params import ModelParams
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io

INPUTS = PREDICTOR_INPUTS
OUTPUTS = PREDICTOR_OUTPUTS
__all__ = ["INPUTS", "OUTPUTS", "Predict", "render_prediction"]
MAX_SPAN = 8  # frames between the two pictures of a motion pair; older raw pictures are capped


#: Faces path: crops enter the model at 1/8 of their size (32 x 32 for 256 x 256 crops), half the
#: whole-frame path's resolution: inside a fixed crop window a face moves a few pixels between
#: frames, and the model call costs half (1.3 vs 2.7 ms). Quality: benchmarks/RESULTS.md.
CROP_SCALE = 8
#: Faces path: a track's crop window is kept while the face's own crop centre stays within this
#: fraction of the crop size of the window's centre; beyond, the window moves to the face.
WINDOW_SLACK = 0.15


class _Track:
    """What the faces path remembers of one face track: the crop window (the 2x3 frame → crop
    matrix of its last translated crop), its last output crop in that window (padded), the raw
    picture it came from (same window, at the model's input scale), the recurrent state and the
    frame index."""

    __slots__ = ("index", "matrix", "raw_small", "state", "styled")

    def __init__(
        self, index: int, matrix: np.ndarray, styled: np.ndarray, raw_small: np.ndarray, state: Any
    ) -> None:
        self.index, self.matrix, self.styled = index, matrix, styled
        self.raw_small, self.state = raw_small, state


@register("predict")
class Predict(Stage):
    """Fills untranslated (every: k) and dropped frames with predicted pictures; keeps every index."""

    class Params(ModelParams):
        model: str = "models/predictor.onnx"
        """Path of the recurrent predictor (python -m export predictor)."""
        max_gap: int = Field(default=6, ge=0, le=1000)
        """Predicted frames in a row at most; beyond, the last output is repeated (counted)."""

    params: Params
    #: The recurrent state is kept as an OrtValue where the session runs (the GPU under CUDA:
    #: it never crosses to the host between frames) through IO binding. On CPU the same binding
    #: code runs with host OrtValues (bit-identical to plain ``run``), so CI exercises it;
    #: False: plain numpy state (the comparison path of the tests).
    io_binding: ClassVar[bool] = True

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        return stage_io(
            uses=(Ann.TRANSLATED, Ann.FACE_CROPS, Ann.TRACKS), writes=(Ann.TRANSLATED, Ann.PREDICTED)
        )

    def open(self) -> None:
        from streamer.onnx import OnnxModel

        p = self.params
        self.model = OnnxModel(
            self.ctx.resolve(p.model),
            providers=p.providers,
            threads=p.threads,
            name=self.name,
            kind="any",
            io_binding=self.io_binding,
        )
        record = self.model.record
        if (
            record is None
            or record.family != FAMILY_PREDICTOR
            or sorted(self.model.input_names) != sorted(INPUTS)
            or sorted(self.model.output_names) != sorted(OUTPUTS)
        ):
            family = record.family if record is not None else None
            raise StreamerError(
                f"{self.name}: {p.model} is not a frame predictor (family {family!r}, "
                f"inputs {self.model.input_names}); expected one written by `python -m export predictor`"
            )
        self.multiple = record.size_multiple
        self.state_channels = record.state_channels or 32
        self.state_scale = record.state_scale or 16
        self.scale = record.input_scale or 4
        self.log(self.model.describe())
        for key in ("predicted", "repeated", "faces_unfilled"):
            self.counters.setdefault(key, 0)
        self._reset()

    def _reset(self) -> None:
        self.last: Frame | None = None  # the last frame emitted (its index, pts, picture)
        self.out_last: np.ndarray | None = None  # the last output picture (padded)
        # the last two frames really stylized upstream: (index, padded picture)
        # (pictures of motion pairs are kept at the model's 1/4 input size: see _small)
        self.real: list[list[Any]] = []  # [index, padded picture, its small copy or None]
        self.raw_last: np.ndarray | None = None  # the last raw (unstylized) picture seen
        self.raw_index = -1
        self.state: Any = None  # the recurrent state: an OrtValue on the session's device (or numpy)
        self.run_length = 0  # predicted frames in a row
        self.shape: tuple[int, int] | None = None
        self.tracks: dict[int | str, _Track] = {}  # faces path: per face track

    # ------------------------------------------------------------------ pictures and the model

    def _pad(self, image: np.ndarray, multiple: int | None = None) -> np.ndarray:
        h, w = image.shape[:2]
        m = multiple or self.multiple
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        if ph or pw:
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
        return np.ascontiguousarray(image)

    def _small(self, padded: np.ndarray, scale: int | None = None) -> np.ndarray:
        """``padded`` at 1/``scale`` by area averaging: the model's ``prev``/``cur`` inputs (it
        only looks at them at that size, so full-size copies never enter the model)."""
        import cv2

        k = scale or self.scale
        h, w = padded.shape[:2]
        return cv2.resize(padded, (w // k, h // k), interpolation=cv2.INTER_AREA)

    def _step(self, index: int, raw: np.ndarray | None, *, render: bool = True) -> np.ndarray | None:
        """Run the predictor for frame ``index`` (``raw``: the frame's raw picture, padded and
        shrunk, or None); advances the state and returns the padded prediction (``render``)."""
        assert self.out_last is not None
        if raw is not None:
            if self.raw_last is not None:
                prev, span = self.raw_last, min(index - self.raw_index, MAX_SPAN)
            else:
                prev, span = self._small(self.out_last), 1
            cur, lag = raw, 0.0
        elif len(self.real) >= 2:  # extrapolate the motion between the last two real pictures
            ia, prev = self.real[0][0], self._real_small(0)
            ib, cur = self.real[1][0], self._real_small(1)
            span, lag = min(ib - ia, MAX_SPAN), float(min(index - 1 - ib, MAX_SPAN))
        else:
            ib, cur = (
                (self.real[-1][0], self._real_small(-1))
                if self.real
                else (index - 1, self._small(self.out_last))
            )
            prev, span, lag = cur, 1, float(min(index - 1 - ib, MAX_SPAN))
        if self.state is None:
            self.state = self._zero_state(self._small(self.out_last))
        result = self._run(self.out_last, prev, cur, span, lag, self.state)
        self.state = result[PREDICTOR_STATE_OUTPUT]
        if not render:
            return None
        return render_prediction(self.out_last, result["flow"][0], result["residual"][0])

    def _zero_state(self, small: np.ndarray) -> np.ndarray:
        """The initial state for model inputs of ``small``'s size."""
        h, w = (n * self.scale // self.state_scale for n in small.shape[:2])
        return np.zeros((1, self.state_channels, h, w), np.float32)

    def _run(
        self,
        image: np.ndarray,
        prev: np.ndarray,
        cur: np.ndarray,
        span: int,
        lag: float,
        state: Any,
        scale: int | None = None,
    ) -> dict[str, Any]:
        """One model call: ``image`` the padded last output, ``prev``/``cur`` the motion pair at
        1/``scale`` (default: the model's input scale); ``state`` numpy or an OrtValue, and the
        new state comes back as an OrtValue left on the device (flow and residual as numpy)."""
        feeds = predictor_feeds(
            image=self._small(image, scale)[None],
            prev=prev[None],
            cur=cur[None],
            span=max(1, span),
            lag=lag,
            state=state,
        )
        return self.model.run_bound(feeds, keep=(PREDICTOR_STATE_OUTPUT,))

    def _advance(self, out: np.ndarray, index: int | None = None) -> None:
        """``out`` is the new last output; ``index`` given: it was really stylized upstream."""
        self.out_last = out
        if index is not None:
            self.real = [*self.real[-1:], [index, out, None]]

    def _real_small(self, i: int) -> np.ndarray:
        """The small copy of ``self.real[i]``, made once when first needed (the faces path
        never needs it unless a live gap has to be filled)."""
        entry = self.real[i]
        if entry[2] is None:
            entry[2] = self._small(entry[1])
        return entry[2]

    def _crop(self, padded: np.ndarray, frame_like: Frame) -> np.ndarray:
        return np.ascontiguousarray(padded[: frame_like.height, : frame_like.width])

    # ------------------------------------------------------------------ frames

    def _predict_or_repeat(self, index: int, raw: np.ndarray | None) -> np.ndarray:
        """The padded output for frame ``index``: predicted, or the last one repeated past max_gap."""
        assert self.out_last is not None
        if self.run_length >= self.params.max_gap:
            self.counters["repeated"] += 1
            return self.out_last
        out = self._step(index, raw)
        assert out is not None
        self.counters["predicted"] += 1
        self.run_length += 1
        return out

    def _fill(self, index: int, pts: int, like: Frame) -> Frame:
        """A frame for a missing ``index``: predicted by extrapolation, or repeated past max_gap.
        Faces path: repeated (a dropped frame has no picture of its own to paste faces into, and
        extrapolating the whole picture costs more than translating faces would have)."""
        assert self.out_last is not None
        if isinstance(like.face_crops, FaceCrops):
            self.counters["repeated"] += 1
            out = self.out_last
        else:
            out = self._predict_or_repeat(index, None)
        self._advance(out)
        return like.replace(
            image=self._crop(out, like),
            index=index,
            pts=pts,
            faces=(),
            translated=True,
            audio=(),
            predicted=True,
            face_crops=None,
        )

    def _start(self, frame: Frame) -> None:
        self._reset()
        self.shape = (frame.height, frame.width)
        padded = self._pad(frame.image)
        self._advance(padded, frame.index)
        if frame.translated is False:  # nothing stylized yet: pass the raw picture, remember it
            self.raw_last, self.raw_index = self._small(padded), frame.index

    def process(self, frame: Frame) -> list[Frame]:
        if self.last is None or self.shape != (frame.height, frame.width):
            self._start(frame)
            lead = self._lead_in(frame)
            self.last = frame
            return [*lead, self._first(frame)]
        last = self.last
        if frame.index <= last.index:  # not after the last one (a restarted source): start again
            self._start(frame)
            self.last = frame
            return [self._first(frame)]
        emitted: list[Frame] = []
        gap = frame.index - last.index - 1
        for k in range(1, gap + 1):
            pts = last.pts + round(k * (frame.pts - last.pts) / (gap + 1))
            emitted.append(self._fill(last.index + k, pts, frame))
        crops = frame.face_crops
        if isinstance(crops, FaceCrops):
            emitted.append(self._faces(frame, crops))
        elif frame.translated is False:
            raw = self._small(self._pad(frame.image))
            out = self._predict_or_repeat(frame.index, raw)
            self.raw_last, self.raw_index = raw, frame.index
            self._advance(out)
            emitted.append(frame.replace(image=self._crop(out, frame), translated=True, predicted=True))
        else:
            self._step(frame.index, None, render=False)  # the state follows the real pictures
            self._advance(self._pad(frame.image), frame.index)
            self.run_length = 0
            emitted.append(frame)
        self.last = frame
        return emitted

    def _first(self, frame: Frame) -> Frame:
        """The first frame of a stream passes as it is; its translated faces are remembered."""
        crops = frame.face_crops
        if isinstance(crops, FaceCrops) and crops.styled is not None:
            return self._faces(frame, crops)
        return frame

    # ------------------------------------------------------------------ faces

    def _faces(self, frame: Frame, crops: FaceCrops) -> Frame:
        """The faces path (see the module doc): a translated frame updates each track's memory
        and state; a skipped one gets its faces predicted and pasted into its own picture.

        Prediction happens in the track's crop *window*, the matrix of its last translated crop,
        not in the face's own crop of this frame: the detector's eye angle and box jitter from
        frame to frame (several degrees), and two crops aligned on jittering detections differ
        by that jitter, which is not motion. Seen through one fixed window, the raw pictures
        differ only by how the face really moved, which is what the predictor's flow follows."""
        real = crops.styled is not None
        styled_all, raw_all = crops.styled or (), crops.raw or ()  # both there on a real frame
        repeat = not real and self.run_length >= self.params.max_gap
        out = frame.image if real else frame.image.copy()
        keys = [t if t is not None else f"#{i}" for i, t in enumerate(crops.track_ids)]
        mult = self.multiple * CROP_SCALE // self.scale  # crops pad to what 1/CROP_SCALE needs
        for i, key in enumerate(keys):
            track = self.tracks.get(key)
            size = (crops.size, crops.size)
            if track is None:
                if real:
                    styled = self._pad(styled_all[i], mult)
                    raw_small = self._small(self._pad(raw_all[i], mult), CROP_SCALE)
                    state = self._zero_state(raw_small)
                    self.tracks[key] = _Track(frame.index, crops.matrices[i], styled, raw_small, state)
                else:
                    self.counters["faces_unfilled"] += 1
                continue
            if repeat:  # past max_gap: the last crop as it was, at the face's new place
                paste_into(out, track.styled[: size[0], : size[1]], crops.matrices[i], feather=crops.feather)
                track.index = frame.index
                continue
            moved = not _within_window(track.matrix, crops.matrices[i], size)
            if moved:  # the face left the window: follow it (its own crop is the new window)
                track.matrix = crops.matrices[i]
            cur = raw_all[i] if moved and raw_all else crop_with(frame.image, track.matrix, size)
            cur_small = self._small(self._pad(cur, mult), CROP_SCALE)
            span = min(frame.index - track.index, MAX_SPAN)
            result = self._run(track.styled, track.raw_small, cur_small, span, 0.0, track.state, CROP_SCALE)
            track.state, track.index = result[PREDICTOR_STATE_OUTPUT], frame.index
            if real:  # the state has seen this frame; the window moves to the new crop
                track.matrix = crops.matrices[i]
                track.styled = self._pad(styled_all[i], mult)
                track.raw_small = self._small(self._pad(raw_all[i], mult), CROP_SCALE)
                continue
            flow = result["flow"][0] * (CROP_SCALE / self.scale)  # in the crop's own pixels
            track.styled = render_prediction(track.styled, flow, result["residual"][0])
            track.raw_small = cur_small
            paste_into(out, track.styled[: size[0], : size[1]], track.matrix, feather=crops.feather)
        # forget tracks not seen for longer than a fill would reach
        horizon = frame.index - max(self.params.max_gap, 1) - 1
        self.tracks = {k: t for k, t in self.tracks.items() if t.index >= horizon}
        if real:
            if not self.real or self.real[-1][0] != frame.index:
                self._advance(self._pad(out), frame.index)
            self.run_length = 0
            return frame
        self._advance(self._pad(out))
        self.run_length += 1
        self.counters["repeated" if repeat else "predicted"] += 1
        return frame.replace(image=out, translated=True, predicted=True)

    def _lead_in(self, frame: Frame) -> list[Frame]:
        """Frames dropped before the first one that arrived (live): repeats of it, counted."""
        if frame.index == 0:
            return []
        step = _pts_step(frame)
        out = []
        for i in range(frame.index):
            self.counters["repeated"] += 1
            pts = frame.pts - (frame.index - i) * step
            out.append(frame.replace(index=i, pts=pts, faces=(), audio=(), predicted=True, face_crops=None))
        return out

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


def _within_window(window: np.ndarray, crop: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether the centre of the face's own crop (matrix ``crop``) lies within ``WINDOW_SLACK``
    of the centre of the ``window`` crop, and the two crops have about the same scale."""
    import cv2

    h, w = size
    centre = cv2.invertAffineTransform(np.asarray(crop, np.float64)) @ np.array([w / 2, h / 2, 1.0])
    x, y = np.asarray(window, np.float64) @ np.array([centre[0], centre[1], 1.0])
    scale = np.sqrt(abs(np.linalg.det(np.asarray(window)[:, :2]) / np.linalg.det(np.asarray(crop)[:, :2])))
    return bool(math.hypot(x - w / 2, y - h / 2) <= WINDOW_SLACK * max(h, w) and abs(scale - 1) < 0.2)


def _pts_step(frame: Frame) -> int:
    """One frame's duration in ``time_base`` units (from ``stream.rate``; 1 when unknown)."""
    rate = frame.stream.rate
    if not rate or not frame.time_base:
        return 1
    return max(1, round(1 / (rate * frame.time_base)))
