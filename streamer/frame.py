"""Frame: one decoded picture travelling through the graph, with what stages learned about it.

A Frame is immutable by convention: a stage that changes the picture or the annotations returns
``frame.replace(...)``, never edits arrays in place, because with fan-out (``encode`` and
``events`` fed by the same stage) several stages hold the same Frame at once.

Identity is ``index`` (0-based position in the source) and ``pts`` in ``time_base`` units,
exactly as the demuxer gave them; ``time`` (float seconds) is for display only.

Pixels stay in the decoder's planes until a stage asks for them: ``Frame.image`` is RGB to
every stage, but a frame from a decoder carries its :class:`Planes` (``streamer.io.picture``)
and converts them on the first read of ``image``, once, however many stages read it. A sink
that can use the planes as they are (``encode`` with the source's size and pixel format) reads
:attr:`Frame.pixels` and never converts, so a transcode-only graph never leaves YUV.
``frame.replace(image=rgb)`` makes that array the picture from then on.

What stages learn about a frame lives in typed fields, never in an untyped dict, and each kind
of it has a name in :class:`Ann`: stages declare which they read and write
(``Stage.io``, DESIGN 3.4a) and the graph compiler refuses a stage that reads what no stage
before it writes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol, overload, runtime_checkable

import numpy as np

from streamer.geometry import FaceCrops


class Ann(StrEnum):
    """The annotations a stage can read from or write onto a frame (besides its pixels)."""

    FACES = "faces"  # Frame.faces: boxes and detector scores, pixels of the frame
    KEYPOINTS = "keypoints"  # Face.keypoints (eyes, nose, mouth, ears)
    TRACKS = "tracks"  # Face.track_id, stable across frames
    IDENTITIES = "identities"  # Face.identity and Face.distance
    FAKE_SCORES = "fake_scores"  # Face.fake and Frame.fake_threshold
    FACE_CROPS = "face_crops"  # Frame.face_crops: the aligned crops translate worked on
    TRANSLATED = "translated"  # Frame.translated: stylized, or skipped for a later stage to fill
    PREDICTED = "predicted"  # Frame.predicted: the picture was predicted, not stylized

    @property
    def text(self) -> str:
        """What it is, for messages: "face boxes", "identities", ..."""
        return _ANN_TEXT[self]


_ANN_TEXT = {
    Ann.FACES: "face boxes",
    Ann.KEYPOINTS: "face keypoints",
    Ann.TRACKS: "face track ids",
    Ann.IDENTITIES: "identities",
    Ann.FAKE_SCORES: "fake scores",
    Ann.FACE_CROPS: "face-crop geometry",
    Ann.TRANSLATED: "the translated flag",
    Ann.PREDICTED: "the predicted flag",
}

#: Annotations in the frame's pixel coordinates: a stage that changes the geometry (resize,
#: crop, rotate) must transform them or they are gone after it.
GEOMETRIC = frozenset({Ann.FACES, Ann.KEYPOINTS, Ann.FACE_CROPS})


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Frame.image: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"Frame.image: expected uint8 array of shape (H, W, 3), got {image.dtype} {image.shape}"
        )


@runtime_checkable
class Planes(Protocol):
    """A picture not yet converted to RGB (a decoded frame in its planes, ``streamer.io``).

    ``size`` is (width, height) of the RGB it becomes; ``rgb()`` returns that uint8 H x W x 3
    array, converting on the first call only (the same array after), safe to call from several
    threads at once."""

    @property
    def size(self) -> tuple[int, int]: ...

    def rgb(self) -> np.ndarray: ...


class _Image:
    """``Frame.image``: the RGB picture, converted from the frame's planes on first read.

    A data descriptor used as a dataclass field, so ``Frame(image=...)`` and
    ``frame.replace(image=...)`` take either an RGB array (validated here, as before) or
    :class:`Planes`, and reading ``frame.image`` always gives the RGB array."""

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Image: ...
    @overload
    def __get__(self, obj: Frame, owner: type | None = None) -> np.ndarray: ...
    def __get__(self, obj: Frame | None, owner: type | None = None) -> np.ndarray | _Image:
        if obj is None:
            raise AttributeError("image")  # no class-level default: the field is required
        pixels = obj.__dict__["_pixels"]
        return pixels if isinstance(pixels, np.ndarray) else pixels.rgb()

    def __set__(self, obj: Frame, value: np.ndarray | Planes) -> None:
        # reached only from the dataclass __init__: the frozen __setattr__ refuses later writes
        if not isinstance(value, Planes) or isinstance(value, np.ndarray):
            _check_image(value)
        obj.__dict__["_pixels"] = value


@dataclass(frozen=True)
class Face:
    """One face in a frame. Coordinates are pixels of the frame it belongs to."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...] | None = None
    track_id: int | None = None
    identity: str | None = None
    distance: float | None = None
    fake: float | None = None
    # why the deepfake stage's call is not simply ``fake >= threshold``: it abstained (``fake`` is
    # None: "small: ...", "pending: ...") or a track's hysteresis holds it ("held: ...")
    fake_reason: str | None = None

    def __post_init__(self) -> None:
        if len(self.box) != 4:
            raise ValueError(f"Face.box: expected 4 numbers [x1, y1, x2, y2], got {self.box!r}")
        x1, y1, x2, y2 = (float(v) for v in self.box)
        if not (x2 >= x1 and y2 >= y1):
            raise ValueError(f"Face.box: expected x2 >= x1 and y2 >= y1, got {self.box!r}")
        object.__setattr__(self, "box", (x1, y1, x2, y2))
        object.__setattr__(self, "score", float(self.score))

    def replace(self, **changes: Any) -> Face:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The per-face object of the events contract (DESIGN 3.3); unknown keys are null."""
        return {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "identity": self.identity,
            "distance": None if self.distance is None else round(self.distance, 4),
            "fake": None if self.fake is None else round(self.fake, 4),
            "fake_reason": self.fake_reason,
        }


@dataclass(frozen=True)
class StreamInfo:
    """What a source knows about its stream, shared by every frame it produces.

    ``audio`` is an opaque handle owned by ``streamer.io`` (the demuxed audio stream that
    sinks may copy); stage code outside io never looks inside it.
    """

    uri: str
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None  # nominal frames per second, None when unknown
    frame_count: int | None = None  # total frames when known (files), for progress
    live: bool = False  # camera / network: frames arrive at their own pace
    audio: Any = None


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class Frame:
    """A decoded picture (RGB to stages, see :attr:`image`) and its annotations; keyword
    arguments only."""

    # required (the descriptor gives no default): an RGB array or Planes in, RGB array out
    image: _Image = _Image()
    index: int
    pts: int
    time_base: Fraction
    stream: StreamInfo
    faces: tuple[Face, ...] = ()
    # None: no stage decides; False: a stage skipped it (translate `every`), a later stage may fill
    translated: bool | None = None
    # demuxed audio packets that belong before this frame (opaque, io-owned); sinks that copy
    # audio write them, live queues move them onto the next frame when they drop this one
    audio: tuple[Any, ...] = ()
    # the aligned face crops translate (region faces) worked on, for predict (Ann.FACE_CROPS)
    face_crops: FaceCrops | None = None
    # True when predict made the picture (Ann.PREDICTED)
    predicted: bool = False
    # the score from which the deepfake stage calls a face fake (Ann.FAKE_SCORES)
    fake_threshold: float | None = None
    # time.perf_counter() when the source produced the frame (set by the runner unless the source
    # did): each sink's end-to-end latency is its finish time minus this; frames a stage emits
    # for a frame (predict's fill-ins) keep it
    captured: float | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(f"Frame.index: expected >= 0, got {self.index}")

    @property
    def time(self) -> float:
        return float(self.pts * self.time_base)

    @property
    def pixels(self) -> np.ndarray | Planes:
        """The picture as the frame holds it: the RGB array, or the decoder's planes while no
        stage has asked for RGB (and after, until a stage replaces the image)."""
        pixels: np.ndarray | Planes = self.__dict__["_pixels"]
        return pixels

    @property
    def height(self) -> int:
        pixels = self.pixels
        return int(pixels.shape[0]) if isinstance(pixels, np.ndarray) else pixels.size[1]

    @property
    def width(self) -> int:
        pixels = self.pixels
        return int(pixels.shape[1]) if isinstance(pixels, np.ndarray) else pixels.size[0]

    def replace(self, **changes: Any) -> Frame:
        """A copy with ``changes``; the pixels are shared (not converted) unless ``image`` is
        among them."""
        changes.setdefault("image", self.pixels)
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        held = "rgb" if isinstance(self.pixels, np.ndarray) else "planes"
        return (
            f"Frame(index={self.index}, pts={self.pts}, time_base={self.time_base}, "
            f"size={self.width}x{self.height} {held}, faces={len(self.faces)})"
        )
