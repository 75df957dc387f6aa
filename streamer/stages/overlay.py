"""``overlay``: draw face boxes, identity labels and scores onto the picture.

Example config (after ``verify`` and ``deepfake``, before ``encode`` or ``display``)::

    - name: draw
      type: overlay
      thickness: 2
      font_scale: 0.5

Box colours say what is known about a face, most important first:

- red: the deepfake stage calls the face fake (``fake >=`` the stage's threshold, carried on the
  frame, 0.5 when the frame has none; or a fake track held by hysteresis: ``deepfake.is_fake``)
- green: verified as an enrolled identity
- orange: verified, but matches no enrolled identity ("unknown")
- blue: detected only, no verification ran

The label reads ``name score [d=distance] [fake p | fake? why]`` where name is the identity,
"unknown", or "face" without verification; ``fake? small`` / ``fake? pending`` mark faces the
deepfake stage abstained on (too small to judge, or a track not yet confirmed), which keep the
colour of what else is known about them. The input picture is never drawn on: with fan-out another stage
may hold the same frame, so the overlay draws on a copy.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from streamer.frame import Ann, Face, Frame
from streamer.stages.base import Stage, StageIO, StageParams, register, stage_io
from streamer.stages.deepfake import is_fake, reason_word

RGB = tuple[int, int, int]

FAKE: RGB = (230, 30, 30)
ENROLLED: RGB = (40, 200, 40)
UNKNOWN: RGB = (255, 150, 0)
DETECTED: RGB = (40, 120, 255)

FAKE_THRESHOLD = 0.5
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX (cv2 is imported lazily)


def face_colour(face: Face, fake_threshold: float | None = None) -> RGB:
    """The box colour for a face (see the module docstring); ``fake_threshold`` is the deepfake
    stage's (``Frame.fake_threshold``), FAKE_THRESHOLD when unknown."""
    threshold = FAKE_THRESHOLD if fake_threshold is None else fake_threshold
    if is_fake(face, threshold):
        return FAKE
    if face.identity is not None:
        return ENROLLED
    if face.distance is not None:
        return UNKNOWN
    return DETECTED


def face_label(face: Face) -> str:
    """The text drawn above a face box."""
    if face.identity is not None:
        name = face.identity
    elif face.distance is not None:
        name = "unknown"
    else:
        name = "face"
    parts = [name, f"{face.score:.2f}"]
    if face.distance is not None:
        parts.append(f"d={face.distance:.2f}")
    if face.fake is not None:
        parts.append(f"fake {face.fake:.2f}")
    elif face.fake_reason:
        parts.append(f"fake? {reason_word(face)}")
    return " ".join(parts)


@register("overlay")
class Overlay(Stage):
    """Reads face boxes, identities and scores; draws them on a copy of the picture."""

    class Params(StageParams):
        thickness: int = Field(default=2, ge=1, le=50)
        """Box line width in pixels."""

        font_scale: float = Field(default=0.5, gt=0, le=10)
        """Label text size (OpenCV font scale; 0.5 is about 12 px high)."""

        labels: bool = True
        """Draw the label (identity, score, distance, fake probability) above each box."""

        boxes: bool = True
        """Draw the face boxes."""

    params: Params
    runtime_params = frozenset({"thickness", "font_scale", "labels", "boxes"})  # changeable while running

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What it reads and writes (see ``Stage.io``)."""
        return stage_io(uses=(Ann.FACES, Ann.IDENTITIES, Ann.FAKE_SCORES))

    def process(self, frame: Frame) -> Frame:
        p = self.params
        if not frame.faces or not (p.boxes or p.labels):
            return frame
        image = frame.image.copy()
        for face in frame.faces:
            self._draw(image, face, frame.fake_threshold)
        return frame.replace(image=image)

    def _draw(self, image: np.ndarray, face: Face, fake_threshold: float | None) -> None:
        import cv2

        p = self.params
        h, w = image.shape[:2]
        colour = face_colour(face, fake_threshold)
        if p.boxes:
            x1, y1, x2, y2 = _clipped_box(face, w, h)
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, p.thickness, cv2.LINE_AA)
        if not p.labels:
            return
        (left, top, right, bottom), org, text, text_thickness = label_layout(face, w, h, p)
        cv2.rectangle(image, (left, top), (right, bottom), colour, cv2.FILLED)
        ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        cv2.putText(image, text, org, FONT, p.font_scale, ink, text_thickness, cv2.LINE_AA)


def label_layout(
    face: Face, width: int, height: int, params: Overlay.Params
) -> tuple[tuple[int, int, int, int], tuple[int, int], str, int]:
    """Where the label of ``face`` goes in a ``width`` x ``height`` picture: the filled rectangle
    (left, top, right, bottom, inclusive), the text origin, the text and its stroke width.

    Everything the overlay draws is this rectangle and the box outline (``thickness`` wide,
    anti-aliased), so tests can check that nothing else changed without depending on how a
    given OpenCV rasterises the glyphs."""
    import cv2

    x1, y1, _, _ = _clipped_box(face, width, height)
    text = face_label(face)
    text_thickness = max(1, round(params.font_scale * 2))
    (tw, th), baseline = cv2.getTextSize(text, FONT, params.font_scale, text_thickness)
    pad = 2
    box_h = th + baseline + 2 * pad
    # above the box when there is room, else just inside its top edge
    top = y1 - box_h if y1 - box_h >= 0 else y1
    left = max(0, min(x1, width - tw - 2 * pad))
    right, bottom = left + tw + 2 * pad - 1, top + box_h - 1  # inclusive corners
    return (left, top, right, bottom), (left + pad, top + pad + th), text, text_thickness


def _clipped_box(face: Face, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    x1, x2 = max(0, min(x1, width - 1)), max(0, min(x2, width - 1))
    y1, y2 = max(0, min(y1, height - 1)), max(0, min(y2, height - 1))
    return x1, y1, x2, y2
