from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export.nets.predictor import STATE_CHANNELS, STATE_SCALE, FramePredictor, lucas_kanade
from export.onnx_io import ort_session, read_metadata, set_metadata
from export.train_predictor import INPUTS, OUTPUTS, clip_frames, export_onnx, sequence_parity, shrink

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def net() -> FramePredictor:
    """A predictor whose learnt parts are not zero, so flow corrections and residuals are exercised."""
    torch.manual_seed(3)
    module = FramePredictor().eval()
    with torch.no_grad():
        module.head.weight.normal_(0.0, 0.05)
        module.head.bias.normal_(0.0, 0.05)
    return module


@pytest.fixture(scope="module")
def onnx_path(net: FramePredictor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predictor") / "p.onnx"
    export_onnx(net, path)
    return path


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f[:352, :640] for f in clip_frames("face_audio.mp4", limit=6)]


def test_state_round_trip_onnx_frame_by_frame_equals_pytorch(
    net: FramePredictor, onnx_path: Path, frames: list[np.ndarray]
) -> None:
    report = sequence_parity(onnx_path, net, frames, spans=[1, 1, 2, 2, 1, 3])
    assert report["max_state_diff"] < 1e-3
    assert report["max_flow_diff"] < 0.01 and report["max_residual_diff"] < 0.05
    # the stage's OpenCV render of ONNX Runtime's outputs == PyTorch's grid_sample render
    assert report["render_within"] >= 0.99 and report["render_max_diff"] <= 3


def _feeds(frames: list[np.ndarray], state: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "image": shrink(frames[1])[None],
        "prev": shrink(frames[0])[None],
        "cur": shrink(frames[2])[None],
        "span": np.array([2.0], np.float32),
        "lag": np.zeros(1, np.float32),
        "state": state,
    }


def test_the_state_carries_information_between_frames(onnx_path: Path, frames: list[np.ndarray]) -> None:
    """Same inputs, different incoming state: different output (else the state would be decoration)."""
    session = ort_session(onnx_path, threads=2)
    h, w = frames[0].shape[:2]
    zero = np.zeros((1, STATE_CHANNELS, h // STATE_SCALE, w // STATE_SCALE), np.float32)
    flow0, _, state1 = session.run(list(OUTPUTS), _feeds(frames, zero))
    assert state1.shape == zero.shape and np.abs(state1).max() > 0.01
    flow1, _, _ = session.run(list(OUTPUTS), _feeds(frames, state1))
    assert np.abs(flow1 - flow0).max() > 1e-3


def test_io_names_shapes_and_dynamic_sizes(onnx_path: Path) -> None:
    session = ort_session(onnx_path)
    assert [i.name for i in session.get_inputs()] == list(INPUTS)
    assert [o.name for o in session.get_outputs()] == list(OUTPUTS)
    rng = np.random.default_rng(0)
    for h, w in ((64, 96), (112, 48)):
        pic = rng.integers(0, 256, (1, h // 4, w // 4, 3), dtype=np.uint8)
        state = np.zeros((1, STATE_CHANNELS, h // STATE_SCALE, w // STATE_SCALE), np.float32)
        feeds = dict(image=pic, prev=pic, cur=pic, span=np.ones(1, np.float32), lag=np.zeros(1, np.float32))
        flow, residual, st = session.run(list(OUTPUTS), {**feeds, "state": state})
        assert flow.shape == (1, 2, h // 4, w // 4) and residual.shape == (1, 3, h // 4, w // 4)
        assert st.shape == state.shape and st.dtype == np.float32


def test_lucas_kanade_recovers_a_known_shift() -> None:
    from skimage import data

    astro = torch.from_numpy(data.astronaut()[100:228, 100:263].copy()).permute(2, 0, 1)[None].float() / 255
    prev = astro[..., :, 3:]
    cur = astro[..., :, :-3]  # cur(p) = prev(p - 3): the backward flow is -3 in x
    g = lucas_kanade(prev, cur)
    inner = g[..., 10:-10, 10:-10]
    # a few regularised iterations under-estimate a little (-2.7 here); the net learns the rest
    assert -3.3 < float(inner[:, 0].median()) < -2.4
    assert abs(float(inner[:, 1].median())) < 0.2
    assert float(lucas_kanade(prev, prev).abs().max()) < 1e-3  # no motion, no flow


def test_untrained_model_is_a_motion_compensated_predictor(frames: list[np.ndarray]) -> None:
    """With a zero head the output is the last frame warped by the LK flow: better than repeating."""
    torch.manual_seed(0)
    net = FramePredictor().eval()

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255.0

    state = torch.zeros(1, STATE_CHANNELS, 352 // STATE_SCALE, 640 // STATE_SCALE)
    gains = []
    with torch.no_grad():
        for i in range(2, len(frames)):
            r = net(
                t(frames[i - 1]),
                t(frames[i - 2]),
                t(frames[i]),
                torch.tensor([0.5]),
                torch.tensor([0.0]),
                state,
            )
            state = r["state"]
            out = (r["out"][0].permute(1, 2, 0).clamp(0, 1) * 255).round().numpy()
            truth = frames[i].astype(np.float64)
            repeat_mse = float(np.mean((frames[i - 1] - truth) ** 2))
            gains.append(repeat_mse / max(float(np.mean((out - truth) ** 2)), 1e-6))
    assert np.mean(gains) > 1.2, gains


def test_metadata_written_by_the_trainer_is_what_the_stage_reads(onnx_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_path.read_bytes())
    meta = {"family": "predictor", "task": "frame-prediction", "streamer_format": "1", "size_multiple": "16"}
    set_metadata(path, {**meta, "state_channels": str(STATE_CHANNELS), "state_scale": str(STATE_SCALE)})
    got = read_metadata(path)
    assert got["state_channels"] == str(STATE_CHANNELS) and got["family"] == "predictor"


@pytest.mark.slow
def test_quick_cli_trains_and_exports(tmp_path: Path) -> None:
    out = tmp_path / "predictor.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "export", "predictor", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and "state round trip" in proc.stdout
    meta = read_metadata(out)
    assert meta["family"] == "predictor" and meta["task"] == "frame-prediction"
    assert meta["size_multiple"] == "16" and meta["streamer_format"] == "1"


def test_cli_refuses_a_missing_output_folder(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "export", "predictor", "--quick", "--out", str(tmp_path / "no" / "p.onnx")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "does not exist" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
