"""streamer.io.picture without files: display matrix -> orientation (all eight), colour choice,
output size for every ``fit``, placement, and the RGB -> YUV matrix the encoder uses."""

from __future__ import annotations

import itertools
import struct
from fractions import Fraction

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.io.picture import (
    UPRIGHT,
    Colour,
    Orientation,
    compose,
    display_size,
    fit_image,
    orientation_from_matrix,
    output_colour,
    output_size,
    place,
    rgb_to_i420,
    source_colour,
)

ONE = 1 << 16  # 1.0 in 16.16 fixed point


def _matrix(a: int, b: int, c: int, d: int) -> list[int]:
    return [a * ONE, b * ONE, 0, c * ONE, d * ONE, 0, 0, 0, 1 << 30]


def _apply_by_definition(image: np.ndarray, a: int, b: int, c: int, d: int) -> np.ndarray:
    """FFmpeg's definition: source pixel (p, q) goes to (a p + c q, b p + d q), shifted >= 0."""
    h, w = image.shape[:2]
    q, p = np.mgrid[0:h, 0:w]
    p2, q2 = a * p + c * q, b * p + d * q
    p2, q2 = p2 - p2.min(), q2 - q2.min()
    out = np.zeros((q2.max() + 1, p2.max() + 1) + image.shape[2:], image.dtype)
    out[q2, p2] = image[q, p]
    return out


def _signed_permutations() -> list[tuple[int, int, int, int]]:
    out = []
    for sx, sy in itertools.product((1, -1), repeat=2):
        out.append((sx, 0, 0, sy))  # no transpose
        out.append((0, sy, sx, 0))  # transpose
    return out


@pytest.mark.parametrize("abcd", _signed_permutations())
def test_every_orientation_matches_the_matrix_definition(abcd: tuple[int, int, int, int]) -> None:
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)  # asymmetric, every pixel unique
    orientation = orientation_from_matrix(_matrix(*abcd))
    assert np.array_equal(orientation.apply(image), _apply_by_definition(image, *abcd))


def test_the_eight_orientations_are_distinct_and_named() -> None:
    found = {orientation_from_matrix(_matrix(*abcd)) for abcd in _signed_permutations()}
    assert found == {Orientation(r, f) for r in (0, 90, 180, 270) for f in (False, True)}
    # FFmpeg 5.1's `-metadata:s:v rotate=90` writes [0 -1; 1 0]: 90 degrees counter-clockwise
    assert orientation_from_matrix(_matrix(0, -1, 1, 0)) == Orientation(90)
    assert orientation_from_matrix(_matrix(-1, 0, 0, -1)) == Orientation(180)
    assert orientation_from_matrix(_matrix(0, 1, -1, 0)) == Orientation(270)
    assert orientation_from_matrix(_matrix(-1, 0, 0, 1)) == Orientation(0, hflip=True)
    assert orientation_from_matrix(_matrix(1, 0, 0, -1)) == Orientation(180, hflip=True)  # vflip


def test_matrix_as_side_data_bytes_and_degenerate_input() -> None:
    raw = struct.pack("=9i", *_matrix(0, -1, 1, 0))
    assert orientation_from_matrix(raw) == orientation_from_matrix(_matrix(0, -1, 1, 0)) == Orientation(90)
    assert orientation_from_matrix(None) == UPRIGHT
    assert orientation_from_matrix([0] * 9) == UPRIGHT
    assert orientation_from_matrix(b"\x00" * 8) == UPRIGHT
    # almost 90 degrees (rounding in a muxer) still counts as 90
    assert orientation_from_matrix([3, -ONE, 0, ONE, 5, 0, 0, 0, 1 << 30]) == Orientation(90)
    with pytest.raises(ValueError, match="expected 0, 90, 180 or 270"):
        Orientation(45)


def test_orientation_apply_is_rot90_and_contiguous() -> None:
    image = np.random.default_rng(0).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    for k, rotation in ((1, 90), (2, 180), (3, 270)):
        out = Orientation(rotation).apply(image)
        assert np.array_equal(out, np.rot90(image, k)) and out.flags.c_contiguous
    assert np.array_equal(Orientation(0, True).apply(image), image[:, ::-1])
    assert Orientation(90).swaps_axes and not Orientation(180).swaps_axes
    assert UPRIGHT.apply(image) is image


@pytest.mark.parametrize(
    ("space", "rng", "fmt", "size", "expected"),
    [
        (1, 1, "yuv420p", (640, 360), Colour("bt709")),  # tags win over size
        (5, 1, "yuv420p", (1920, 1080), Colour("bt601")),
        (6, 0, "yuv420p", (1920, 1080), Colour("bt601")),  # SMPTE 170M is BT.601
        (9, 1, "yuv420p10le", (3840, 2160), Colour("bt2020")),
        (2, 0, "yuv420p", (1280, 720), Colour("bt709", guessed=True)),  # unspecified: size
        (2, 0, "yuv420p", (1024, 768), Colour("bt709", guessed=True)),
        (2, 0, "yuv420p", (720, 576), Colour("bt601", guessed=True)),
        (2, 0, "yuv420p", (176, 144), Colour("bt601", guessed=True)),
        (2, 2, "yuv420p", (176, 144), Colour("bt601", full_range=True, guessed=True)),
        (2, 0, "yuvj420p", (1280, 720), Colour("bt709", full_range=True, guessed=True)),
        (1, 2, "yuv420p", (1280, 720), Colour("bt709", full_range=True)),
    ],
)
def test_source_colour(space: int, rng: int, fmt: str, size: tuple[int, int], expected: Colour) -> None:
    assert source_colour(space, rng, fmt, *size) == expected


def test_output_colour_and_tags() -> None:
    assert output_colour(1280, 720).tags() == {
        "colorspace": 1,
        "color_primaries": 1,
        "color_trc": 1,
        "color_range": 1,
    }
    assert output_colour(640, 360).tags() == {
        "colorspace": 6,
        "color_primaries": 6,
        "color_trc": 6,
        "color_range": 1,
    }
    assert output_colour(640, 360, "yuvj420p").tags()["color_range"] == 2


@pytest.mark.parametrize(
    ("display", "width", "height", "fit", "expected"),
    [
        ((176, 144), 1280, 720, "contain", (880, 720)),  # 11:9 kept, bounded by 720 high
        ((720, 528), 1280, 720, "contain", (982, 720)),  # 15:11 kept
        ((1920, 1080), 1280, 720, "contain", (1280, 720)),
        ((640, 272), 1280, 720, "contain", (1280, 544)),  # wider than 16:9: bounded by width
        ((176, 144), 1280, 720, "pad", (1280, 720)),
        ((176, 144), 1280, 720, "crop", (1280, 720)),
        ((176, 144), 1280, 720, "stretch", (1280, 720)),
        ((176, 144), 352, None, "contain", (352, 288)),
        ((176, 144), None, 100, "contain", (122, 100)),  # 122.2 -> even
        ((175, 143), None, None, "contain", (175, 143)),  # square pixels, no request: as coded
        ((352.0, 144.0), None, None, "contain", (352, 144)),
        ((192.55, 144.0), None, None, "contain", (192, 144)),
    ],
)
def test_output_size(
    display: tuple[float, float], width: int | None, height: int | None, fit: str, expected: tuple[int, int]
) -> None:
    assert output_size(display, width, height, fit) == expected


def test_output_size_rejects_unknown_fit() -> None:
    with pytest.raises(ValueError, match="fit: expected one of contain, pad, crop, stretch"):
        output_size((10, 10), 4, 4, "squash")


def test_display_size_applies_sar_then_rotation() -> None:
    assert display_size(176, 144) == (176, 144)
    assert display_size(176, 144, Fraction(2)) == (352, 144)  # SAR 2:1 -> twice as wide
    assert display_size(176, 144, Fraction(1, 2)) == (176, 288)  # tall pixels: taller, nothing lost
    assert display_size(176, 144, Fraction(2), Orientation(90)) == (144, 352)
    assert display_size(176, 144, Fraction(128, 117)) == pytest.approx((192.547, 144), abs=1e-3)


def test_place_and_compose_pad_crop() -> None:
    image = np.full((144, 176, 3), 200, np.uint8)
    pad = place((176, 144), (1280, 720), "pad")
    assert pad.scaled == (880, 720) and pad.offset == (200, 0)
    scaled = fit_image(image, (1280, 720), "pad")
    assert scaled.shape == (720, 1280, 3)
    assert scaled[:, :200].max() == 0 and scaled[:, -200:].max() == 0 and scaled[:, 200:1080].min() == 200
    crop = place((176, 144), (1280, 720), "crop")
    assert crop.scaled == (1280, 1047) and crop.offset == (0, -164)
    # crop keeps the centre: a marked middle row survives at the output's middle
    tall = np.zeros((1047, 1280, 3), np.uint8)
    tall[523] = 255
    out = compose(tall, crop)
    assert out.shape == (720, 1280, 3) and out[523 - 164].min() == 255
    # an even-size rounding difference is absorbed, not turned into a 1-pixel bar
    assert place((192.55, 144), (192, 144), "contain").scaled == (192, 144)


def test_capture_fit_needs_both_sides() -> None:
    from streamer.stages.base import load_all

    params = load_all()["capture"].Params
    assert params(uri="x.mp4", width=1280, height=720, fit="pad").fit == "pad"
    assert params(uri="x.mp4", width=1280).fit == "contain"
    with pytest.raises(ValidationError, match="crop needs both width and height"):
        params(uri="x.mp4", width=1280, fit="crop")
    with pytest.raises(ValidationError):
        params(uri="x.mp4", width=8, height=8, fit="squash")


@pytest.mark.parametrize(
    "colour", [Colour("bt709"), Colour("bt709", True), Colour("bt601"), Colour("bt601", True)]
)
def test_rgb_to_i420_inverts_swscale_decoding(colour: Colour) -> None:
    """The encoder's conversion, decoded by swscale with the same tags, gives the picture back.

    Colour is constant over each 2x2 block so 4:2:0 loses nothing; what is left is rounding
    (swscale's fast YUV -> RGB path, like ``ffmpeg``, reads about one level dark)."""
    import av

    small = np.random.default_rng(1).integers(16, 240, (32, 48, 3)).astype(np.uint8)
    image = small.repeat(2, axis=0).repeat(2, axis=1)
    frame = av.VideoFrame.from_ndarray(rgb_to_i420(image, colour), format="yuv420p")
    back = frame.reformat(
        format="rgb24", src_colorspace=colour.sws_colorspace, src_color_range=colour.sws_range
    ).to_ndarray()
    diff = np.abs(back.astype(int) - image)
    assert diff.mean() < 1.5 and diff.max() <= 3
    # the wrong matrix is visibly wrong on saturated colour (so the test can fail)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    other = Colour("bt601" if colour.matrix == "bt709" else "bt709", colour.full_range)
    wrong = av.VideoFrame.from_ndarray(rgb_to_i420(red, colour), format="yuv420p").reformat(
        format="rgb24", src_colorspace=other.sws_colorspace, src_color_range=other.sws_range
    )
    assert np.abs(wrong.to_ndarray().astype(int) - red).max() > 8


def test_converter_keeps_one_size_when_the_stream_changes_shape() -> None:
    """A stream that switches resolution mid-way is fitted into the size fixed at open."""
    import av

    from streamer.io.picture import PictureConverter

    conv = PictureConverter((176, 144), width=1280, height=720)
    assert conv.size == (880, 720)
    grey = np.full((180, 320, 3), 128, np.uint8)  # 16:9 now
    out = conv.convert(av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p"))
    assert out.shape == (720, 880, 3) and out.flags.c_contiguous
    bar = (720 - round(880 * 9 / 16)) // 2  # letterboxed top and bottom
    assert out[: bar - 2].max() == 0 and out[-bar + 2 :].max() == 0
    assert abs(int(out[360, 440, 0]) - 128) <= 2
