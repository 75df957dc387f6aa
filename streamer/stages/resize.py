"""``resize``: scale the picture, and the face boxes, keypoints and face-crop geometry with it.

Example config::

    - name: small
      type: resize
      width: 640           # height follows the aspect ratio (rounded to an even number)

Give ``width``, ``height`` or both. With one, the other follows the source aspect ratio and is
rounded to an even number (video encoders with 4:2:0 chroma need even sizes). With both the
picture is stretched to exactly that size. A frame that already has the target size passes
through untouched (the same object, no copy).

Interpolation: ``area`` (default) averages the source pixels under each output pixel, the best
choice for shrinking (no aliasing or moiré); for enlarging it behaves like ``linear``. Use
``cubic`` for sharper enlargement and ``nearest`` for label maps or pixel art.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from streamer.frame import Ann, Face, Frame, StreamInfo
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io

Interpolation = Literal["area", "linear", "cubic", "nearest"]


def _even(value: float) -> int:
    return max(2, 2 * int(value / 2 + 0.5))


def target_size(width: int, height: int, want_w: int | None, want_h: int | None) -> tuple[int, int]:
    """Output (width, height) for a ``width`` x ``height`` picture and the requested sizes."""
    if want_w is not None and want_h is not None:
        return want_w, want_h
    if want_w is not None:
        return want_w, _even(height * want_w / width)
    if want_h is not None:
        return _even(width * want_h / height), want_h
    raise ValueError("resize: expected width or height")


def scale_face(face: Face, sx: float, sy: float) -> Face:
    """The face with box and keypoints scaled by (sx, sy)."""
    x1, y1, x2, y2 = face.box
    keypoints = None
    if face.keypoints is not None:
        keypoints = tuple((x * sx, y * sy) for x, y in face.keypoints)
    return face.replace(box=(x1 * sx, y1 * sy, x2 * sx, y2 * sy), keypoints=keypoints)


@register("resize")
class Resize(Stage):
    """Reads the picture and face annotations; scales both (and translate's face crops) to the size."""

    class Params(StageParams):
        width: int | None = Field(default=None, ge=1, le=16384)
        """Output width in pixels; alone, the height follows the aspect ratio."""

        height: int | None = Field(default=None, ge=1, le=16384)
        """Output height in pixels; alone, the width follows the aspect ratio."""

        interpolation: Interpolation = "area"
        """area (best for shrinking), linear, cubic (sharper enlarging) or nearest."""

        @model_validator(mode="after")
        def _one_size(self) -> Self:
            if self.width is None and self.height is None:
                raise ValueError("expected width or height (or both), e.g. width: 640")
            return self

    params: Params
    runtime_params = frozenset({"width", "height", "interpolation"})  # changeable while running (--serve)

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        geometric = (Ann.FACES, Ann.KEYPOINTS, Ann.FACE_CROPS)
        return stage_io(uses=geometric, geometry=True, transforms=geometric)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the source's StreamInfo and its resized copy, so frames share one object again
        self._stream_in: StreamInfo | None = None
        self._stream_out: StreamInfo | None = None

    def _stream(self, stream: StreamInfo, width: int, height: int) -> StreamInfo:
        out = self._stream_out
        if stream is not self._stream_in or out is None or (out.width, out.height) != (width, height):
            self._stream_in = stream
            self._stream_out = out = dataclasses.replace(stream, width=width, height=height)
        return out

    def process(self, frame: Frame) -> Frame:
        import cv2

        w, h = target_size(frame.width, frame.height, self.params.width, self.params.height)
        if (w, h) == (frame.width, frame.height):
            return frame
        flag = {
            "area": cv2.INTER_AREA,
            "linear": cv2.INTER_LINEAR,
            "cubic": cv2.INTER_CUBIC,
            "nearest": cv2.INTER_NEAREST,
        }[self.params.interpolation]
        image = cv2.resize(frame.image, (w, h), interpolation=flag)
        sx, sy = w / frame.width, h / frame.height
        return frame.replace(
            image=image,
            faces=tuple(scale_face(f, sx, sy) for f in frame.faces),
            face_crops=None if frame.face_crops is None else frame.face_crops.scaled(sx, sy),
            stream=self._stream(frame.stream, w, h),
        )
