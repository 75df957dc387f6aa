"""Aspect on files: capture width/height bound the size and keep the shape (``fit: contain``),
``pad``/``crop``/``stretch`` do what they say, anamorphic sources come out in square pixels.

Clips are the 160x120-style bar clips of ``media.py`` at other sizes: a grey picture with one
white vertical bar 16 pixels wide, so the bar's width on the output shows the horizontal scale
and its height the vertical one.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamer.io import SourceSpec, open_source
from tests.real_footage import clip
from tests.unit.io.media import bar_image, make_clip

GRAPHS = Path(__file__).resolve().parents[3] / "graphs"


def _first(path: Path, **spec: object) -> np.ndarray:
    src = open_source(SourceSpec(uri=str(path), **spec))  # type: ignore[arg-type]
    src.open()
    try:
        image = next(iter(src.frames())).image
        assert src.info is not None and (src.info.width, src.info.height) == (image.shape[1], image.shape[0])
        return image
    finally:
        src.close()


def _bar_width(image: np.ndarray) -> int:
    """Width in pixels of the bright bar on the middle row."""
    return int((image[image.shape[0] // 2, :, 1] > 160).sum())


@pytest.fixture(scope="module")
def qcif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("a") / "qcif.mp4", frames=2, width=176, height=144, audio=False)


def _webcam_request() -> dict[str, int]:
    """The camera request of graphs/webcam_stylize.yaml (1280x720), applied to files."""
    stages = yaml.safe_load((GRAPHS / "webcam_stylize.yaml").read_text())["stages"]
    cam = next(s for s in stages if s["type"] == "capture")
    return {"width": cam["width"], "height": cam["height"]}


def test_webcam_request_on_a_qcif_file_keeps_11_to_9(qcif: Path) -> None:
    request = _webcam_request()
    assert request == {"width": 1280, "height": 720}
    image = _first(qcif, **request)
    assert image.shape[:2] == (720, 880)  # 11:9 inside 1280x720, not stretched to 16:9
    assert abs(_bar_width(image) - 16 * 5) <= 2  # scaled by 5 both ways


def test_webcam_request_on_a_720x528_file(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "c.mp4", frames=1, width=720, height=528, audio=False)
    image = _first(path, **_webcam_request())
    assert image.shape[:2] == (720, 982)  # 15:11 kept, even sides


def test_one_side_keeps_the_aspect(qcif: Path) -> None:
    assert _first(qcif, width=352).shape[:2] == (288, 352)
    assert _first(qcif, height=72).shape[:2] == (72, 88)


def test_pad_letterboxes_to_exactly_the_size(qcif: Path) -> None:
    image = _first(qcif, width=1280, height=720, fit="pad")
    assert image.shape[:2] == (720, 1280)
    assert image[:, :195].max() == 0 and image[:, -195:].max() == 0  # black bars 200 wide
    assert image[:, 205:1075].min() >= 40  # the grey picture, 880 wide
    assert abs(_bar_width(image) - 80) <= 2


def test_crop_fills_and_keeps_the_centre(qcif: Path) -> None:
    image = _first(qcif, width=1280, height=720, fit="crop")
    assert image.shape[:2] == (720, 1280)
    assert image.min() >= 40  # no bars: every pixel is picture
    scale = 1280 / 176
    assert abs(_bar_width(image) - 16 * scale) <= 2  # one scale for both axes: not distorted


def test_stretch_is_the_old_behaviour(qcif: Path) -> None:
    image = _first(qcif, width=1280, height=720, fit="stretch")
    assert image.shape[:2] == (720, 1280)
    assert abs(_bar_width(image) - 16 * 1280 / 176) <= 2


def _anamorphic(path: Path, sar: Fraction) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        stream.codec_context.sample_aspect_ratio = sar
        frame = av.VideoFrame.from_ndarray(bar_image(0, 176, 144), format="rgb24")
        frame.pts, frame.time_base = 0, Fraction(1, 30)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def test_sar_2_to_1_comes_out_twice_as_wide(tmp_path: Path) -> None:
    image = _first(_anamorphic(tmp_path / "sar2.mp4", Fraction(2)))
    assert image.shape[:2] == (144, 352)
    assert abs(_bar_width(image) - 32) <= 2
    # bounded like any other clip: its 352:144 display shape kept inside 1280x720
    assert _first(tmp_path / "sar2.mp4", width=1280, height=720).shape[:2] == (524, 1280)


def test_sar_below_1_grows_the_height(tmp_path: Path) -> None:
    image = _first(_anamorphic(tmp_path / "sar05.mp4", Fraction(1, 2)))
    assert image.shape[:2] == (288, 176) and abs(_bar_width(image) - 16) <= 2


def test_real_carphone_has_its_display_shape() -> None:
    """carphone is stored 176x144 with SAR 128:117 (display about 4:3), as ffprobe reports."""
    path = clip("carphone")
    assert _first(path).shape[:2] == (144, 192)
    assert _first(path, **_webcam_request()).shape[:2] == (720, 962)


def test_image_folder_is_fitted_not_stretched(tmp_path: Path) -> None:
    import cv2

    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), bar_image(0, 160, 120))
    assert _first(tmp_path / "imgs", width=640, height=640).shape[:2] == (480, 640)
    assert _first(tmp_path / "imgs", width=640, height=640, fit="pad").shape[:2] == (640, 640)
    assert _first(tmp_path / "imgs", width=640, height=640, fit="stretch").shape[:2] == (640, 640)
