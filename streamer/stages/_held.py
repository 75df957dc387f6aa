"""Cross-frame batching for the face model stages (``verify``, ``deepfake``): ``batch_frames``.

Offline, a stage with ``batch_frames: N`` holds N frames, sends the face crops of all of them to
its model in one call (padded to the batch bins 1, 2, 4, ... so the session sees a few fixed
shapes however many faces come and go: nothing is re-planned, CUDA reuses its buffers), then
decides each frame in order, exactly as frame by frame: per-track smoothing sees the same
sequence. The held frames leave together after the pass; end of stream flushes the rest. Live
graphs keep 1 (holding frames would add their latency).

A stage mixes in :class:`HeldFaces` and provides three steps: ``_frame_crops`` (uint8 crops of
the faces its model judges in a frame), ``_rows`` (the model's rows for a stack of crops) and
``_decide`` (the frame with its faces written from its rows, in frame order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamer.frame import Frame
from streamer.onnx import bins_up_to

#: the largest batch bin when the stage has no ``batch`` of its own
DEFAULT_TOP_BIN = 16


class HeldFaces:
    """``process``/``flush`` for a face model stage, frame by frame or ``batch_frames`` at a time."""

    hold = 1
    _pending: list[Frame]

    def _hold_frames(self, batch_frames: int, mode: str, model: object, top: int | None = None) -> None:
        """Set how many frames to hold (offline only) and the model's batch bins: with held frames,
        or on a GPU, crops are padded up to bins 1, 2, 4, ... ``top`` (default 16)."""
        self.hold = batch_frames if mode == "offline" else 1
        self._pending = []
        if batch_frames > 1 and self.hold == 1:
            self.log(f"batch_frames: {batch_frames} ignored in a live graph (it would add latency)")  # type: ignore[attr-defined]
        if self.hold > 1 or getattr(getattr(model, "model", None), "on_device", False):
            model.batch_bins = bins_up_to(top or DEFAULT_TOP_BIN)  # type: ignore[attr-defined]

    def _frame_crops(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError

    def _rows(self, crops: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decide(self, frame: Frame, rows: np.ndarray) -> Frame:
        raise NotImplementedError

    def process(self, frame: Frame) -> Frame | Sequence[Frame]:
        if self.hold > 1:
            self._pending.append(frame)
            return self._pass() if len(self._pending) >= self.hold else []
        crops = self._frame_crops(frame)
        return self._decide(frame, self._rows(crops) if len(crops) else crops[:0])

    def flush(self) -> Sequence[Frame]:
        """End of stream: the frames still held (batch_frames)."""
        return self._pass() if self._pending else []

    def _pass(self) -> list[Frame]:
        """The held frames' crops in one model call, then each frame decided in order."""
        frames, self._pending = self._pending, []
        crops = [self._frame_crops(f) for f in frames]
        counts = [len(c) for c in crops]
        if sum(counts):
            rows = self._rows(np.concatenate([c for c in crops if len(c)]))
        else:
            rows = np.zeros((0,), np.float32)
        out, start = [], 0
        for frame, n in zip(frames, counts, strict=True):
            out.append(self._decide(frame, rows[start : start + n]))
            start += n
        return out
