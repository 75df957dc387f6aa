"""The stage contract (DESIGN 3.4a, issue 12): stages declare what they read and write, the graph
compiler refuses a stage that needs what nothing before it writes, and a stage that changes the
geometry carries what depends on it. The three silent failures the issue names are either
refused by ``streamer check`` with one clear line or give correct output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streamer.errors import GraphError
from streamer.graph import build_graph, load_graph
from streamer.runner import RunOptions, run_graph

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "one_face.mp4"
FACE_MODEL = ROOT / "models" / "face_drawing.onnx"
PREDICTOR = ROOT / "models" / "predictor.onnx"


def _errors(stages: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(GraphError) as info:
        build_graph({"name": "g", "stages": stages}, path=Path("g.yaml"))
    return info.value.messages


CAM = {"name": "cam", "type": "capture", "uri": str(CLIP)}
OUT = {"name": "out", "type": "null"}


def test_translate_faces_without_a_face_detector_is_refused() -> None:
    """Used to run "successfully" and change nothing."""
    style = {"name": "style", "type": "translate", "model": str(FACE_MODEL), "region": "faces"}
    assert _errors([CAM, style, OUT]) == [
        "g.yaml: stage 'style' (translate): reads face boxes, which no stage before it writes;"
        " add a face_detect stage before it"
    ]
    # the whole frame needs no faces
    build_graph({"name": "g", "stages": [CAM, style | {"region": "frame"}, OUT]})


@pytest.mark.parametrize(
    ("stage", "missing", "fix"),
    [
        ({"type": "verify", "gallery": "g.json"}, "face boxes", "face_detect"),
        ({"type": "deepfake", "model": "m.onnx"}, "face boxes", "face_detect"),
    ],
)
def test_face_stages_need_faces(stage: dict[str, Any], missing: str, fix: str) -> None:
    (line,) = _errors([CAM, {"name": "x", **stage}, OUT])
    assert f"reads {missing}, which no stage before it writes; add a {fix} stage before it" in line


def test_only_enrolled_needs_a_verify_stage() -> None:
    faces = {"name": "faces", "type": "face_detect"}
    style = {"name": "style", "type": "translate", "model": "m.onnx", "region": "faces", "only": "enrolled"}
    (line,) = _errors([CAM, faces, style, OUT])
    assert "stage 'style' (translate): reads identities" in line and "add a verify stage before it" in line


def test_what_reaches_a_stage_is_its_own_chain_of_inputs() -> None:
    """A face_detect on a side branch does not feed a stage on another branch."""
    stages = [
        CAM,
        {"name": "faces", "type": "face_detect"},
        {"name": "side", "type": "null", "input": "faces"},
        {"name": "style", "type": "translate", "model": "m.onnx", "region": "faces", "input": "cam"},
        OUT,
    ]
    (line,) = _errors(stages)
    assert "stage 'style' (translate): reads face boxes" in line


def test_every_error_of_a_graph_is_reported(tmp_path: Path) -> None:
    """`streamer check` used to stop at the first problem."""
    text = f"""\
name: broken
stages:
  - name: cam
    type: capture
    uri: {CLIP}
  - name: style
    type: translate
    model: m.onnx
    region: faces
  - name: small
    type: resize
    widht: 640
  - name: out
    type: no_such_sink
"""
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(GraphError) as info:
        load_graph(path)
    messages = info.value.messages
    assert len(messages) == 3, messages
    assert messages[0].startswith(f"{path}:10: stage 'small' (resize): key 'widht': unknown key")
    assert messages[1].startswith(f"{path}:13: stage 'out': key 'type': unknown stage type 'no_such_sink'")
    assert messages[2].startswith(f"{path}:6: stage 'style' (translate): reads face boxes")
    cli = subprocess.run(
        [sys.executable, "-m", "streamer", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 1
    lines = cli.stderr.splitlines()
    assert len(lines) == 3  # (this process also knows the test stages: compare up to the type list)
    assert all(
        line.startswith(f"error: {m.split('; expected')[0]}") for line, m in zip(lines, messages, strict=True)
    )


def test_every_shipped_graph_meets_the_contract() -> None:
    for path in sorted((ROOT / "graphs").glob("*.yaml")):
        load_graph(path)  # raises with every unmet read


def _frames(stages: list[dict[str, Any]], out: Path, frames: int) -> dict[int, np.ndarray]:
    doc = {
        "name": "g",
        "mode": "offline",
        "stages": stages + [{"name": "png", "type": "frames", "dir": str(out)}],
    }
    result = run_graph(build_graph(doc), RunOptions(max_frames=frames, quiet=True, handle_signals=False))
    assert result.error is None, result.error
    return {int(p.stem): cv2.imread(str(p)) for p in sorted(out.glob("*.png"))}


@pytest.mark.skipif(not (FACE_MODEL.exists() and PREDICTOR.exists()), reason="needs the default models")
def test_resize_between_translate_and_predict_puts_the_faces_where_they_are(tmp_path: Path) -> None:
    """translate (faces, every 2) → resize (640) → predict used to paste the predicted faces at
    twice their coordinates (resize scaled the faces but not translate's crop geometry). Now the
    skipped frames' faces land where resizing after predict puts them."""
    faces = {"name": "faces", "type": "face_detect"}
    style = {"name": "style", "type": "translate", "model": str(FACE_MODEL), "region": "faces", "every": 2}
    fill = {"name": "fill", "type": "predict", "model": str(PREDICTOR)}
    small = {"name": "small", "type": "resize", "width": 640}
    resized_first = _frames([CAM, faces, style, small, fill], tmp_path / "a", 8)
    resized_last = _frames([CAM, faces, style, fill, small], tmp_path / "b", 8)
    truth = json.loads((ROOT / "samples" / "one_face.faces.json").read_text())["frames"]
    assert sorted(resized_first) == sorted(resized_last) == list(range(8))
    for i in (1, 3, 5, 7):  # the predicted frames
        a, b = resized_first[i].astype(float), resized_last[i].astype(float)
        assert a.shape == b.shape == (360, 640, 3)
        x1, y1, x2, y2 = (round(v / 2) for v in truth[i]["faces"][0]["box"])  # the face at 640 wide
        mse = float(np.mean((a[y1:y2, x1:x2] - b[y1:y2, x1:x2]) ** 2))
        psnr = 10 * np.log10(255**2 / max(mse, 1e-9))
        assert psnr > 30, f"frame {i}: the face differs ({psnr:.1f} dB)"


def test_open_errors_name_file_line_and_stage_and_all_are_reported(tmp_path: Path) -> None:
    """Errors found while opening stages read like compile-time ones (DESIGN 3.4), one line per
    failing stage: a missing model used to say only `model file not found: nope.onnx`."""
    path = tmp_path / "g.yaml"
    path.write_text(
        f"""\
name: g
stages:
  - name: cam
    type: capture
    uri: {CLIP}
  - name: style
    type: translate
    model: nope.onnx
  - name: fake
    type: face_detect
  - name: judge
    type: deepfake
    model: missing_too.onnx
  - name: out
    type: "null"
"""
    )
    cli = subprocess.run(
        [sys.executable, "-m", "streamer", "run", str(path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1
    errors = [line for line in cli.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, cli.stderr
    assert errors[0].startswith(f"error: {path}:6: stage 'style' (translate): key 'model': ")
    assert "nope.onnx" in errors[0]
    assert errors[1].startswith(f"error: {path}:11: stage 'judge' (deepfake): key 'model': ")
    assert "missing_too.onnx" in errors[1]
    assert "Traceback" not in cli.stderr
