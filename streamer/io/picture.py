"""What a decoded frame needs to become the upright, square-pixel RGB picture stages see, and
what an RGB picture needs to be written back as tagged YUV.

Rotation: the display matrix (mp4/mov ``tkhd`` matrix, exported by FFmpeg as frame side data)
is applied to the pixels: frames reach the stages upright, face boxes are in the upright
frame, and the encoder writes upright pixels with *no* matrix. We rotate rather than keep the
matrix because then every stage, every event box and every player agrees on one geometry
(players and web pages that ignore the matrix are common; a stage that forgot it would draw
boxes sideways). The cost is one ``cv2.rotate`` per frame for rotated sources only. The eight
orientations (90/180/270 and the mirrors) are decoded from the matrix itself, not only its
angle, so a mirrored front-camera clip comes out mirrored back. PyAV shows the matrix on
decoded frames only, so ``open()`` of a file reads its first frame once through a second,
short-lived open to know the upright size; a network stream (which cannot be opened twice) is
sized as coded, and frames that turn out rotated are fitted into that size.

Colour: YUV -> RGB follows the frame's colour matrix and range (BT.601, BT.709, BT.2020,
FCC, SMPTE 240M; limited or full). A frame that says nothing gets the players' usual guess
(mpv/VLC): BT.709 when width >= 1280 or height > 576, else BT.601; limited range unless the
pixel format is ``yuvj*`` or the range says full. The conversion is swscale through PyAV
with the source matrix and range given explicitly, so it is bit-identical to ``ffmpeg -i x
-pix_fmt rgb24`` on tagged files. Cost per 1280x720 4:2:0 frame (bigbuckbunny) on the 2-core
AMD EPYC dev box, one thread: 0.27 ms, against 0.18 ms for OpenCV's BT.601-only
``COLOR_YUV2RGB_I420`` used before (swscale's unscaled YUV -> RGB path is as fast as OpenCV's
now; the old "3-10x" held for the encoder's direction only). Primaries and transfer are not
converted (a BT.2020/HDR source keeps its gamut numbers; tone mapping is out of scope).

The encoder converts RGB -> YUV with the matrix chosen by :func:`output_colour` (BT.709 for
HD sizes, BT.601 otherwise, limited range unless the pixel format is ``yuvj*``) and tags the
stream with it (matrix, primaries, transfer, range). 4:2:0 goes through OpenCV here
(:func:`rgb_to_i420`: a 3x4 matrix, chroma averaged over 2x2): 0.7-0.8 ms per 720p frame,
against 3.8 ms for swscale; BT.601 limited keeps OpenCV's ``COLOR_RGB2YUV_I420`` (0.17 ms).
Decode then encode loses at most 1 level on average (measured 0.45-0.6 on colour bars, max 2;
3 for a full-range source written limited).

Size: the display size is the coded size with the sample aspect ratio (SAR) applied (the
wider side grows, so an SAR 2:1 clip comes out twice as wide; nothing is thrown away), then
rotated. ``width``/``height`` on a file or stream bound it (see :func:`output_size`)::

    fit: contain   # default: largest size inside width x height, aspect kept, even sides
    fit: pad       # contain, then black bars to exactly width x height (letterbox)
    fit: crop      # fill width x height, centre-crop the overflow
    fit: stretch   # exactly width x height, aspect not kept (the old behaviour)

With only one of width/height the other follows the aspect (even). Once a source's output
size is fixed, a frame of another shape (a stream that changes resolution or rotation) is
placed into that size by the same ``fit`` (contain letterboxes), so every frame has one size.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

Fit = Literal["contain", "pad", "crop", "stretch"]
FITS: tuple[str, ...] = ("contain", "pad", "crop", "stretch")

# -- orientation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Orientation:
    """How to turn the coded picture upright: rotate counter-clockwise by ``rotation`` degrees
    (0, 90, 180 or 270), then mirror left-right when ``hflip``. Covers all eight EXIF-style
    orientations (a vertical mirror is ``rotation=180, hflip=True``)."""

    rotation: int = 0
    hflip: bool = False

    def __post_init__(self) -> None:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"Orientation.rotation: expected 0, 90, 180 or 270, got {self.rotation}")

    @property
    def swaps_axes(self) -> bool:
        """True when the upright picture is the coded one with width and height exchanged."""
        return self.rotation in (90, 270)

    @property
    def upright(self) -> bool:
        return self.rotation == 0 and not self.hflip

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The upright picture (a new contiguous array unless already upright)."""
        if self.upright:
            return image
        import cv2

        codes = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
        out = cv2.rotate(image, codes[self.rotation]) if self.rotation else image
        return cv2.flip(out, 1) if self.hflip else np.ascontiguousarray(out)


UPRIGHT = Orientation()


def orientation_from_matrix(matrix: Sequence[int] | bytes | None) -> Orientation:
    """Decode FFmpeg's display matrix (9 int32, 16.16 fixed point, or its 36 raw bytes).

    FFmpeg maps a source pixel (p, q) to (a*p + c*q + x, b*p + d*q + y) for the matrix
    ``[a b u; c d v; x y w]``, in image coordinates (y down). Only the signs and the pattern of
    a, b, c, d matter here; a matrix that is not a multiple of 90 degrees is taken to the
    nearest one (phones only write multiples of 90). None, zeros or garbage -> upright.
    """
    if matrix is None:
        return UPRIGHT
    if isinstance(matrix, (bytes, bytearray, memoryview)):
        raw = bytes(matrix)
        if len(raw) < 36:
            return UPRIGHT
        values: Sequence[int] = struct.unpack("=9i", raw[:36])
    else:
        values = list(matrix)
        if len(values) < 9:
            return UPRIGHT
    a, b, c, d = (float(values[i]) for i in (0, 1, 3, 4))
    if math.hypot(a, c) == 0 or math.hypot(b, d) == 0:
        return UPRIGHT
    if abs(a) + abs(d) >= abs(b) + abs(c):
        # no transpose: p' = a p, q' = d q
        flip_x, flip_y = a < 0, d < 0
        rotation, hflip = {
            (False, False): (0, False),
            (True, False): (0, True),
            (True, True): (180, False),
            (False, True): (180, True),
        }[(flip_x, flip_y)]
    else:
        # transpose: p' = c q, q' = b p (out = transpose(in), then flips)
        flip_x, flip_y = c < 0, b < 0
        rotation, hflip = {
            (False, True): (90, False),  # np.rot90(k=1) = transpose then flip rows
            (True, False): (270, False),
            (False, False): (270, True),  # plain transpose = rot 270 ccw then mirror
            (True, True): (90, True),
        }[(flip_x, flip_y)]
    return Orientation(rotation, hflip)


def frame_orientation(frame: Any) -> Orientation:
    """The orientation a decoded PyAV frame asks for (its DISPLAYMATRIX side data)."""
    try:
        import av.sidedata.sidedata as sd

        data = frame.side_data.get(sd.Type.DISPLAYMATRIX)
    except (AttributeError, ImportError, KeyError, ValueError, TypeError):
        return UPRIGHT
    if data is None:
        return UPRIGHT
    return orientation_from_matrix(bytes(data))


# -- colour --------------------------------------------------------------------------------

# AVColorSpace -> our name; names -> swscale's SWS_CS_* (what PyAV's reformat takes)
_SPACES = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_SWS = {"bt709": 1, "fcc": 4, "bt601": 5, "smpte240m": 7, "bt2020": 9}
# what the encoder writes for each matrix: (colorspace, primaries, transfer), AVCOL_* values
_TAGS = {"bt709": (1, 1, 1), "bt601": (6, 6, 6), "bt2020": (9, 9, 14)}
# luma weights (Kr, Kb) for RGB -> YUV
_WEIGHTS = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593)}


@dataclass(frozen=True)
class Colour:
    """A YUV colour matrix (``bt601``, ``bt709``, ``bt2020``, ``fcc``, ``smpte240m``) and range;
    ``guessed`` when the stream did not say and the size decided."""

    matrix: str = "bt601"
    full_range: bool = False
    guessed: bool = False

    @property
    def sws_colorspace(self) -> int:
        return _SWS[self.matrix]

    @property
    def sws_range(self) -> int:
        return 2 if self.full_range else 1  # ColorRange.JPEG / MPEG

    def tags(self) -> dict[str, int]:
        """AVCOL_* values for a codec context or frame: colorspace, primaries, trc, range."""
        space, primaries, trc = _TAGS.get(self.matrix, _TAGS["bt709"])
        return {
            "colorspace": space,
            "color_primaries": primaries,
            "color_trc": trc,
            "color_range": self.sws_range,
        }


def is_hd(width: int, height: int) -> bool:
    """The size rule players use for untagged video: HD (BT.709) from 1280 wide or 577 high."""
    return width >= 1280 or height > 576


def source_colour(
    colorspace: int | None, color_range: int | None, pix_fmt: str, width: int, height: int
) -> Colour:
    """The matrix and range to decode with: the stream's tags, else the guess by size."""
    full = color_range == 2 or pix_fmt.startswith("yuvj")
    matrix = _SPACES.get(int(colorspace or 2))
    if matrix is None:
        return Colour("bt709" if is_hd(width, height) else "bt601", full, guessed=True)
    return Colour(matrix, full)


def frame_colour(frame: Any) -> Colour:
    """:func:`source_colour` of a decoded PyAV frame."""
    return source_colour(
        getattr(frame, "colorspace", None),
        getattr(frame, "color_range", None),
        frame.format.name,
        frame.width,
        frame.height,
    )


def output_colour(width: int, height: int, pix_fmt: str = "yuv420p") -> Colour:
    """What the encoder converts with and tags: BT.709 for HD sizes, else BT.601."""
    return Colour("bt709" if is_hd(width, height) else "bt601", pix_fmt.startswith("yuvj"))


def rgb_to_i420(image: np.ndarray, colour: Colour) -> np.ndarray:
    """RGB (H x W x 3, even sides) -> I420 planes stacked as PyAV's ``yuv420p`` ndarray
    ((H * 3 / 2) x W), with ``colour``'s matrix and range; chroma is the 2x2 mean."""
    import cv2

    h, w = image.shape[:2]
    if colour.matrix == "bt601" and not colour.full_range:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
    kr, kb = _WEIGHTS.get(colour.matrix, _WEIGHTS["bt709"])
    kg = 1.0 - kr - kb
    y = np.array([kr, kg, kb])
    u = (np.array([0.0, 0.0, 1.0]) - y) / (2 * (1 - kb))
    v = (np.array([1.0, 0.0, 0.0]) - y) / (2 * (1 - kr))
    ys, cs, y0 = (1.0, 1.0, 0.0) if colour.full_range else (219 / 255, 224 / 255, 16.0)
    m = np.zeros((3, 4), np.float32)
    m[0, :3], m[0, 3] = y * ys, y0
    m[1, :3], m[1, 3] = u * cs, 128.0
    m[2, :3], m[2, 3] = v * cs, 128.0
    yuv = cv2.transform(np.ascontiguousarray(image), m)
    half = cv2.resize(yuv, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # cv2.split is slower
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = yuv[..., 0]
    out[h : h + h // 4] = half[..., 1].reshape(h // 4, w)
    out[h + h // 4 :] = half[..., 2].reshape(h // 4, w)
    return out


# -- size ----------------------------------------------------------------------------------


def _even(x: float, bound: int | None = None) -> int:
    """Nearest even integer >= 2, never above ``bound``."""
    n = max(2, int(round(x / 2)) * 2)
    if bound is not None and n > bound:
        n = max(2, bound - bound % 2)
    return n


def display_size(
    width: int, height: int, sar: Fraction | None = None, orientation: Orientation = UPRIGHT
) -> tuple[float, float]:
    """Upright square-pixel size of a coded picture: the SAR widens (or heightens) it, then the
    rotation may swap the sides. Floats: rounding is :func:`output_size`'s job."""
    w, h = float(width), float(height)
    if sar and sar > 0 and sar != 1:
        if sar > 1:
            w *= float(sar)
        else:
            h /= float(sar)
    return (h, w) if orientation.swaps_axes else (w, h)


def output_size(
    display: tuple[float, float], width: int | None = None, height: int | None = None, fit: str = "contain"
) -> tuple[int, int]:
    """The picture size a file or stream source delivers (see the module doc for ``fit``)."""
    dw, dh = display
    if fit not in FITS:
        raise ValueError(f"fit: expected one of {', '.join(FITS)}, got {fit!r}")
    if width and height:
        if fit != "contain":
            return width, height
        scale = min(width / dw, height / dh)
        return _even(dw * scale, width), _even(dh * scale, height)
    if width:
        return width, _even(dh * width / dw)
    if height:
        return _even(dw * height / dh), height
    if float(dw).is_integer() and float(dh).is_integer():
        return int(dw), int(dh)  # square pixels: the coded size, odd sides included
    return _even(dw), _even(dh)


@dataclass(frozen=True)
class Placement:
    """How a picture of some display shape lands on the output: scaled to ``scaled`` (upright)
    and put at ``offset`` (negative: cropped on that side, positive: black bars)."""

    scaled: tuple[int, int]
    offset: tuple[int, int]
    size: tuple[int, int]


def place(display: tuple[float, float], size: tuple[int, int], fit: str = "contain") -> Placement:
    """Where a picture of ``display`` shape goes on an output of ``size`` for ``fit``.

    A shape within 2 pixels of ``size`` is scaled to it exactly (even-size rounding, not a
    reason to add a 1-pixel bar)."""
    dw, dh = display
    w, h = size
    if fit == "stretch":
        return Placement((w, h), (0, 0), size)
    scale = max(w / dw, h / dh) if fit == "crop" else min(w / dw, h / dh)
    sw, sh = max(1, round(dw * scale)), max(1, round(dh * scale))
    if abs(sw - w) <= 2 and abs(sh - h) <= 2:
        return Placement((w, h), (0, 0), size)
    return Placement((sw, sh), ((w - sw) // 2, (h - sh) // 2), size)


def compose(image: np.ndarray, placement: Placement) -> np.ndarray:
    """Crop or letterbox an upright picture of ``placement.scaled`` onto ``placement.size``."""
    w, h = placement.size
    x, y = placement.offset
    if (x, y) == (0, 0) and image.shape[1] == w and image.shape[0] == h:
        return image
    out = np.zeros((h, w, 3), np.uint8)
    sx, sy = max(0, -x), max(0, -y)  # source start (crop)
    dx, dy = max(0, x), max(0, y)  # destination start (bars)
    cw = min(image.shape[1] - sx, w - dx)
    ch = min(image.shape[0] - sy, h - dy)
    out[dy : dy + ch, dx : dx + cw] = image[sy : sy + ch, sx : sx + cw]
    return out


# -- the whole conversion ------------------------------------------------------------------


class PictureConverter:
    """Decoded PyAV frame -> upright RGB of one fixed output size, with the stream's colour.

    Build it with the source's coded size, SAR and first-frame orientation (``open()`` knows
    them); :attr:`size` is then the output size for ``StreamInfo``. Each frame is converted
    with its own tags and display matrix, so a stream that changes either stays right.
    """

    def __init__(
        self,
        coded: tuple[int, int],
        *,
        sar: Fraction | None = None,
        orientation: Orientation = UPRIGHT,
        width: int | None = None,
        height: int | None = None,
        fit: str = "contain",
    ) -> None:
        self.sar = Fraction(sar) if sar and sar > 0 else None
        self.fit = fit
        self.size = output_size(display_size(*coded, self.sar, orientation), width, height, fit)
        self._plans: dict[tuple[int, int, Orientation], Placement] = {}

    def _plan(self, frame: Any) -> tuple[Orientation, Placement]:
        orientation = frame_orientation(frame)
        key = (frame.width, frame.height, orientation)
        plan = self._plans.get(key)
        if plan is None:
            display = display_size(frame.width, frame.height, self.sar, orientation)
            plan = self._plans[key] = place(display, self.size, self.fit)
        return orientation, plan

    def keeps_geometry(self, frame: Any) -> bool:
        """True when :meth:`convert` changes only the colour of ``frame``: upright, square
        pixels, already :attr:`size` (no rotation, scaling, bars or crop). Only then may a sink
        write the decoded planes instead of the RGB picture."""
        orientation, plan = self._plan(frame)
        coded = (frame.width, frame.height)
        return orientation.upright and plan.scaled == coded == self.size and plan.offset == (0, 0)

    def convert(self, frame: Any) -> np.ndarray:
        """The frame as contiguous uint8 H x W x 3 RGB of :attr:`size`, upright."""
        orientation, plan = self._plan(frame)
        sw, sh = plan.scaled
        cw, ch = (sh, sw) if orientation.swaps_axes else (sw, sh)
        image = to_rgb(frame, width=cw, height=ch)
        image = compose(orientation.apply(image), plan)
        return image if image.flags.c_contiguous else np.ascontiguousarray(image)


class DecodedPicture:
    """A decoded PyAV frame in its planes (YUV as the decoder gave it) with the converter that
    turns it into the stage's RGB: :class:`streamer.frame.Planes` for ``Frame``.

    The RGB is made on the first :meth:`rgb` call and kept, under a lock: stages fed by the
    same frame (fan-out) may ask at once, and PyAV's ``reformat`` caches its swscale context
    on the frame, so two conversions of one frame must not run together. ``encode`` asks
    :meth:`passthrough` instead and, when it may, writes :attr:`frame` without any conversion.
    """

    __slots__ = ("_lock", "_rgb", "converter", "frame")

    def __init__(self, frame: Any, converter: PictureConverter) -> None:
        self.frame = frame
        self.converter = converter
        self._rgb: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the RGB picture (the source's output size)."""
        return self.converter.size

    @property
    def converted(self) -> bool:
        """True once a stage has asked for the RGB picture."""
        return self._rgb is not None

    def rgb(self) -> np.ndarray:
        """The upright RGB picture (converted once, then the same array)."""
        image = self._rgb
        if image is None:
            with self._lock:
                image = self._rgb
                if image is None:
                    image = self._rgb = self.converter.convert(self.frame)
        return image

    def colour(self) -> Colour:
        """The matrix and range the planes are in (the stream's tags, else the size guess)."""
        return frame_colour(self.frame)

    def passthrough(self, pix_fmt: str, size: tuple[int, int]) -> Any | None:
        """The decoded frame itself when writing it is writing this picture: pixel format
        ``pix_fmt``, ``size`` (width, height), and a conversion that would change only the
        colour (see :meth:`PictureConverter.keeps_geometry`); else None."""
        frame = self.frame
        if frame.format.name != pix_fmt or (frame.width, frame.height) != tuple(size):
            return None
        return frame if self.converter.keeps_geometry(frame) else None

    def lock(self) -> threading.Lock:
        """Held while a writer re-stamps and sends :attr:`frame` (two encoders fed by one
        frame must not stamp it at once)."""
        return self._lock


def to_rgb(frame: Any, *, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A decoded frame as uint8 RGB (scaled to width x height when given) with the frame's own
    colour matrix and range (:func:`frame_colour`), through swscale on one thread."""
    if frame.format.name == "rgb24" and width in (None, frame.width) and height in (None, frame.height):
        return frame.to_ndarray()
    colour = frame_colour(frame)
    rgb = frame.reformat(
        width=width,
        height=height,
        format="rgb24",
        src_colorspace=colour.sws_colorspace,
        src_color_range=colour.sws_range,
        threads=1,
    )
    return rgb.to_ndarray()


def first_frame_orientation(path: str) -> Orientation:
    """The display orientation of a file's first video frame, read through a second, short-lived
    open of the file (PyAV exposes the matrix on frames, not streams); upright when unreadable.
    Files only: a network stream cannot be opened twice, so its first frame decides later."""
    import av

    if not Path(path).is_file():  # a pipe or device would lose what the probe reads
        return UPRIGHT
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                return frame_orientation(frame)
    except (av.FFmpegError, OSError, IndexError, ValueError):
        pass
    return UPRIGHT


def converter_for(
    stream: Any, *, width: int | None, height: int | None, fit: str, path: str | None
) -> PictureConverter:
    """The converter for a PyAV video stream with the capture's size request; ``path`` (files)
    lets the first frame's display matrix set the output size before any frame is read."""
    ctx = stream.codec_context
    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    orientation = first_frame_orientation(path) if path else UPRIGHT
    return PictureConverter(
        (ctx.width, ctx.height), sar=sar, orientation=orientation, width=width, height=height, fit=fit
    )


def fit_image(image: np.ndarray, size: tuple[int, int], fit: str = "contain") -> np.ndarray:
    """An RGB/BGR picture (square pixels, upright) placed onto ``size`` by ``fit`` (images)."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    import cv2

    plan = place((image.shape[1], image.shape[0]), size, fit)
    shrink = plan.scaled[0] < image.shape[1]
    scaled = cv2.resize(image, plan.scaled, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return compose(scaled, plan)
