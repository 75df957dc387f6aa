"""Live mode (``--realtime``) on the 30 fps sample clip: translate alone drops the frames it has no
time for; with a ``predict`` stage after it, the output has every source frame again, each at its
source timestamp, and every filled frame is accounted for.

The graph is graphs/file_cartoon.yaml (the whole-frame cartoon, ~10 frames/s on 2 CPU cores, so
about 2 frames in 3 are dropped at 30 frames/s), as the benchmark runs it
(benchmarks/bench_predict.py --region frame): predict inserted after translate, the sink's queue
16 deep so a filled gap's burst is not dropped there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer.graph import build_graph
from streamer.runner import RunOptions, RunResult, run_graph
from tests.graphs.media import decode

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "face_audio.mp4"
GRAPH = ROOT / "graphs" / "file_cartoon.yaml"
PREDICTOR = ROOT / "models" / "predictor.onnx"
FRAMES = 45  # 1.5 s of the 30 fps clip

pytestmark = pytest.mark.skipif(
    not (ROOT / "models" / "cartoon.onnx").exists() or not PREDICTOR.exists(),
    reason="needs models/cartoon.onnx and models/predictor.onnx",
)


def _run(out: Path, *, predict: bool) -> RunResult:
    doc: dict[str, Any] = yaml.safe_load(GRAPH.read_text())
    stages = []
    for s in doc["stages"]:
        s = dict(s)
        if s["type"] == "capture":
            s["uri"] = str(CLIP)
        if s["type"] == "encode":
            s["path"] = str(out)
            if predict:
                s["queue"] = 16
        stages.append(s)
        if s["type"] == "translate" and predict:
            stages.append({"name": "fill", "type": "predict", "model": str(PREDICTOR), "max_gap": 6})
    doc["stages"] = stages
    spec = build_graph(doc, path=GRAPH, mode="live")
    result = run_graph(
        spec,
        RunOptions(realtime=True, max_frames=FRAMES, quiet=True, handle_signals=False, log=lambda _m: None),
    )
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("live")
    alone = _run(tmp / "alone.mp4", predict=False)
    filled = _run(tmp / "filled.mp4", predict=True)
    return {
        "alone": alone,
        "filled": filled,
        "src": decode(CLIP).times[:FRAMES],
        "alone_t": decode(tmp / "alone.mp4").times,
        "filled_out": decode(tmp / "filled.mp4"),
    }


def test_translate_alone_drops_frames_and_counts_them(runs: dict[str, Any]) -> None:
    r: RunResult = runs["alone"]
    drops = sum(m.drops for m in r.metrics)
    if drops == 0:
        pytest.skip("translate kept up with 30 frames/s on this machine: nothing to fill")
    # every source frame is either written or counted as dropped, and the drops are at translate
    assert r.stage("out").frames_in + drops == FRAMES
    assert r.stage("style").drops == drops
    assert len(runs["alone_t"]) == FRAMES - drops
    assert set(runs["alone_t"]) < set(runs["src"])


def test_predict_puts_back_every_dropped_frame_at_its_source_pts(runs: dict[str, Any]) -> None:
    r: RunResult = runs["filled"]
    style_drops = r.stage("style").drops
    assert sum(m.drops for m in r.metrics) == style_drops  # nothing dropped after translate
    fill = r.stage("fill").counters
    # each frame translate dropped comes back, predicted or (past max_gap) repeated, and counted
    assert fill["predicted"] + fill["repeated"] == style_drops
    assert r.stage("out").frames_in == FRAMES
    out = runs["filled_out"]
    assert out.times == runs["src"]  # every source timestamp, in order (mp4 keeps them exactly)
    assert out.audio_codec == "aac" and out.audio_packets > 0
    if style_drops:
        assert fill["predicted"] > 0
