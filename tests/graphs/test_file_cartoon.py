"""graphs/file_cartoon.yaml: the sample clip stylised whole-frame by the project's cartoon model.

The output must keep every processed frame, its pts and the audio, and be really stylised: far
from the input, yet the same picture (grey levels correlate) and close to the classical cartoon
filter the model was trained to imitate (export/train_cartoon.py).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from export.onnx_io import psnr, read_metadata
from export.train_cartoon import auto_levels, cartoon_filter
from tests.graphs.media import decode, run_and_decode

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "face_audio.mp4"
GRAPH = ROOT / "graphs" / "file_cartoon.yaml"
MODEL = ROOT / "models" / "cartoon.onnx"
FRAMES = 24


@pytest.fixture(scope="module")
def stylized(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("stylize") / "out.mp4"
    return run_and_decode(GRAPH, [f"cam.uri={CLIP}", f"out.path={out}", "out.crf=18"], CLIP, out, FRAMES)


def test_model_is_a_fast_style_export() -> None:
    meta = read_metadata(MODEL)
    assert meta["family"] == "fast-style" and meta["precision"] == "fp32"
    assert meta["source"].startswith("cartoon.pth sha256:")
    assert MODEL.stat().st_size < 8e6


def test_every_processed_frame_pts_and_audio_kept(stylized: dict) -> None:
    assert stylized["result"].stage("style").frames_in == FRAMES
    assert len(stylized["dst"]) == FRAMES
    assert stylized["dst_t"] == stylized["src_t"]  # mp4 keeps the timestamps exactly
    assert stylized["acodec"] == ("aac", "aac") and stylized["apkts"][1] > 0


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def test_frames_are_stylized_but_keep_the_picture(stylized: dict) -> None:
    for src, dst in zip(stylized["src"], stylized["dst"], strict=True):
        assert dst.shape == src.shape
        # far from the input: measured 41-58 levels (a re-encode alone: ~1-2)
        assert np.mean(np.abs(dst.astype(np.float64) - src)) > 25
        # the same picture: grey levels correlate (measured 0.93-0.94)
        assert np.corrcoef(_grey(src).ravel(), _grey(dst).ravel())[0, 1] > 0.8


def test_frames_match_the_classical_filter(stylized: dict) -> None:
    """What the graph does (model at 360x204, scaled back) vs the filter at the same size."""
    values = []
    for src, dst in zip(stylized["src"], stylized["dst"], strict=True):
        h, w = src.shape[:2]
        small = cv2.resize(src, (360, 204), interpolation=cv2.INTER_AREA)
        want = cv2.resize(cartoon_filter(small), (w, h), interpolation=cv2.INTER_LINEAR)
        values.append(psnr(dst, want))
        # closer to the filter than the input is (measured: by 2.5 dB or more on every frame)
        assert values[-1] > psnr(src, want) + 1.5
    assert np.mean(values) > 17  # measured 18.4 dB (input itself: 14.2 dB)


def test_filter_ignores_brightness_and_contrast_like_the_network() -> None:
    """Why auto_levels exists: the network's instance norm makes it blind to a*x+b."""
    from skimage import data

    x = data.astronaut()[::2, ::2]
    darker = (x.astype(np.float32) * 0.6 + 20).round().astype(np.uint8)
    a, b = auto_levels(x), auto_levels(darker)
    assert np.abs(a - b).mean() < 1.0
    assert psnr(cartoon_filter(x), cartoon_filter(darker)) > 30


@pytest.mark.slow
def test_quick_training_writes_a_working_model(tmp_path: Path) -> None:
    from export.__main__ import main

    out = tmp_path / "q.onnx"
    assert main(["cartoon", "--quick", "--out", str(out)]) == 0
    meta = read_metadata(out)
    assert meta["family"] == "fast-style" and meta["source"].startswith("cartoon.pth")
    from export.onnx_io import INPUT_NAME, OUTPUT_NAME, ort_session

    x = cv2.resize(decode(CLIP).frames[0], (96, 56))
    y = ort_session(out, threads=2).run([OUTPUT_NAME], {INPUT_NAME: x[None]})[0]
    assert y.shape == (1, 56, 96, 3) and y.dtype == np.uint8 and y.std() > 1
