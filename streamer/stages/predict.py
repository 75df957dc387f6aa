"""predict: fill the output frames that were not stylized or never arrived, with a recurrent predictor.

Trade-off: stylization is the expensive stage. ``translate every: 2`` halves its cost offline, and
in live mode a busy machine drops frames at translate's queue; this stage puts the missing
frames back so the output keeps the source's full frame rate, at the price of predicted (not
stylized) pictures in between. It carries the predictor's recurrent state from frame to frame
(``models/predictor.onnx``, ``python -m export predictor``; see ``models/predictor.md``).

What it does per frame, in source order:

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
Counters: ``predicted``, ``repeated``. Predicted frames are marked ``translated=True`` and
``extra["predicted"] = True``. In live mode give the stage after this one a longer ``queue``
(e.g. ``queue: 16``): a filled gap arrives as a burst that a 1-frame live queue would drop.

Example::

    - name: style
      type: translate
      model: models/cartoon.onnx
      every: 2
    - name: fill
      type: predict
      max_gap: 6
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from streamer.errors import StreamerError
from streamer.frame import Frame
from streamer.stages._model_params import ModelParams
from streamer.stages.base import Stage, register

INPUTS = ("image", "prev", "cur", "span", "lag", "state")
OUTPUTS = ("flow", "residual", "state_out")
MAX_SPAN = 8  # frames between the two pictures of a motion pair; older raw pictures are capped


@register("predict")
class Predict(Stage):
    """Fills untranslated (every: k) and dropped frames with predicted pictures; keeps every index."""

    class Params(ModelParams):
        model: str = "models/predictor.onnx"
        """Path of the recurrent predictor (python -m export predictor)."""
        max_gap: int = Field(default=6, ge=0, le=1000)
        """Predicted frames in a row at most; beyond, the last output is repeated (counted)."""

    params: Params

    def open(self) -> None:
        from streamer.onnx_model import OnnxModel

        p = self.params
        self.model = OnnxModel(
            self.ctx.resolve(p.model), providers=p.providers, threads=p.threads, name=self.name, kind="any"
        )
        if (
            self.model.info.family != "predictor"
            or sorted(self.model.input_names) != sorted(INPUTS)
            or sorted(self.model.output_names) != sorted(OUTPUTS)
        ):
            raise StreamerError(
                f"{self.name}: {p.model} is not a frame predictor (family {self.model.info.family!r}, "
                f"inputs {self.model.input_names}); expected one written by `python -m export predictor`"
            )
        meta = _metadata(self.model)
        self.multiple = max(1, int(meta.get("size_multiple", "16")))
        self.state_channels = int(meta.get("state_channels", "32"))
        self.state_scale = int(meta.get("state_scale", "16"))
        self.scale = int(meta.get("input_scale", "4"))
        self.log(self.model.describe())
        for key in ("predicted", "repeated"):
            self.counters.setdefault(key, 0)
        self._reset()

    def _reset(self) -> None:
        self.last: Frame | None = None  # the last frame emitted (its index, pts, picture)
        self.out_last: np.ndarray | None = None  # the last output picture (padded)
        # the last two frames really stylized upstream: (index, padded picture)
        # (pictures of motion pairs are kept at the model's 1/4 input size: see _small)
        self.real: list[tuple[int, np.ndarray]] = []
        self.raw_last: np.ndarray | None = None  # the last raw (unstylized) picture seen
        self.raw_index = -1
        self.state: np.ndarray | None = None
        self.run_length = 0  # predicted frames in a row
        self.shape: tuple[int, int] | None = None

    # ------------------------------------------------------------------ pictures and the model

    def _pad(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        m = self.multiple
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        if ph or pw:
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
        return np.ascontiguousarray(image)

    def _small(self, padded: np.ndarray) -> np.ndarray:
        """``padded`` at 1/``scale`` by area averaging: the model's ``prev``/``cur`` inputs (it
        only looks at them at that size, so full-size copies never enter the model)."""
        import cv2

        h, w = padded.shape[:2]
        return cv2.resize(padded, (w // self.scale, h // self.scale), interpolation=cv2.INTER_AREA)

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
            (ia, prev), (ib, cur) = self.real
            span, lag = min(ib - ia, MAX_SPAN), float(min(index - 1 - ib, MAX_SPAN))
        else:
            ib, cur = self.real[-1] if self.real else (index - 1, self._small(self.out_last))
            prev, span, lag = cur, 1, float(min(index - 1 - ib, MAX_SPAN))
        if self.state is None:
            h, w = self.out_last.shape[:2]
            shape = (1, self.state_channels, h // self.state_scale, w // self.state_scale)
            self.state = np.zeros(shape, np.float32)
        result = self.model.run_raw(
            {
                "image": self._small(self.out_last)[None],
                "prev": prev[None],
                "cur": cur[None],
                "span": np.array([max(1, span)], np.float32),
                "lag": np.array([lag], np.float32),
                "state": self.state,
            }
        )
        self.state = result["state_out"]
        if not render:
            return None
        return render_prediction(self.out_last, result["flow"][0], result["residual"][0])

    def _advance(self, out: np.ndarray, index: int | None = None) -> None:
        """``out`` is the new last output; ``index`` given: it was really stylized upstream."""
        self.out_last = out
        if index is not None:
            self.real = [*self.real[-1:], (index, self._small(out))]

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
        """A frame for a missing ``index``: predicted by extrapolation, or repeated past max_gap."""
        out = self._predict_or_repeat(index, None)
        self._advance(out)
        return like.replace(
            image=self._crop(out, like),
            index=index,
            pts=pts,
            faces=(),
            translated=True,
            audio=(),
            extra={"predicted": True},
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
            return [*lead, frame]
        last = self.last
        if frame.index <= last.index:  # not after the last one (a restarted source): start again
            self._start(frame)
            self.last = frame
            return [frame]
        emitted: list[Frame] = []
        gap = frame.index - last.index - 1
        for k in range(1, gap + 1):
            pts = last.pts + round(k * (frame.pts - last.pts) / (gap + 1))
            emitted.append(self._fill(last.index + k, pts, frame))
        if frame.translated is False:
            raw = self._small(self._pad(frame.image))
            out = self._predict_or_repeat(frame.index, raw)
            self.raw_last, self.raw_index = raw, frame.index
            self._advance(out)
            extra = {**frame.extra, "predicted": True}
            emitted.append(frame.replace(image=self._crop(out, frame), translated=True, extra=extra))
        else:
            self._step(frame.index, None, render=False)  # the state follows the real pictures
            self._advance(self._pad(frame.image), frame.index)
            self.run_length = 0
            emitted.append(frame)
        self.last = frame
        return emitted

    def _lead_in(self, frame: Frame) -> list[Frame]:
        """Frames dropped before the first one that arrived (live): repeats of it, counted."""
        if frame.index == 0:
            return []
        step = _pts_step(frame)
        out = []
        for i in range(frame.index):
            self.counters["repeated"] += 1
            pts = frame.pts - (frame.index - i) * step
            out.append(frame.replace(index=i, pts=pts, faces=(), audio=(), extra={"predicted": True}))
        return out

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


def render_prediction(image: np.ndarray, flow: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The full-size prediction from the model's 1/4-grid outputs: ``image`` (uint8 H x W x 3)
    sampled at ``p + flow(p)`` (``flow`` float [2, H/4, W/4] in full-size pixels, bilinearly
    upsampled; border pixels repeat) plus the upsampled ``residual`` ([3, H/4, W/4], levels).
    OpenCV's resize + remap do in a few ms what ONNX Runtime's CPU GridSample needs ~10x for."""
    import cv2

    h, w = image.shape[:2]
    up = cv2.resize(np.ascontiguousarray(flow.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    warped = cv2.remap(
        image, up[..., 0] + xs, up[..., 1] + ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    res = cv2.resize(
        np.ascontiguousarray(residual.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR
    )
    out = warped.astype(np.float32)
    out += res
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _pts_step(frame: Frame) -> int:
    """One frame's duration in ``time_base`` units (from ``stream.rate``; 1 when unknown)."""
    rate = frame.stream.rate
    if not rate or not frame.time_base:
        return 1
    return max(1, round(1 / (rate * frame.time_base)))


def _metadata(model: Any) -> dict[str, str]:
    """The model's custom metadata (size multiple, state shape)."""
    return dict(model.metadata)
