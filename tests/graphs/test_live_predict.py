"""Live mode (``--realtime``) on the 30 fps sample clip: a slow stylizing stage makes the graph
drop the frames it has no time for, at the entrance (live admission, ``max_in_flight``: the
capture row counts them; before admission they were dropped at the slow stage's queue, after
decoding); with a ``predict`` stage after it, the output has every source frame again, each at
its source timestamp, and every filled frame is accounted for.

Deterministic by construction, not by the machine's speed: the stylizing stage is slow on purpose
(a test stage that takes 100 ms a frame while the clip delivers one every 33 ms, so about 2
frames in 3 are dropped on any machine), and admitted frames move through blocking queues (the
stages after it also have queues longer than the whole run, 64 > 45 frames), so nothing is
dropped after the entrance, and the counts below are exact identities whatever the timing. The real cartoon model in live mode is measured
by benchmarks/bench_predict.py --region frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tests.unit.fake_stages  # noqa: F401 - registers t_slow
from streamer.graph import build_graph
from streamer.runner import RunOptions, RunResult, run_graph
from tests.graphs.media import decode

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "face_audio.mp4"
PREDICTOR = ROOT / "models" / "predictor.onnx"
FRAMES = 45  # 1.5 s of the 30 fps clip
LONG_QUEUE = 64  # longer than the run: stages after the slow one never drop

pytestmark = pytest.mark.skipif(not PREDICTOR.exists(), reason="needs models/predictor.onnx")


def _run(out: Path, *, predict: bool) -> RunResult:
    stages: list[dict[str, Any]] = [
        {"name": "cam", "type": "capture", "uri": str(CLIP)},
        {"name": "style", "type": "t_slow", "seconds": 0.1},
    ]
    if predict:
        stages.append(
            {"name": "fill", "type": "predict", "model": str(PREDICTOR), "max_gap": 6, "queue": LONG_QUEUE}
        )
    stages.append({"name": "out", "type": "encode", "path": str(out), "queue": LONG_QUEUE})
    spec = build_graph({"name": "live_predict", "stages": stages}, mode="live")
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
    every = build_graph(
        {
            "name": "offline",
            "stages": [
                {"name": "cam", "type": "capture", "uri": str(CLIP)},
                {"name": "out", "type": "encode", "path": str(tmp / "offline.mp4")},
            ],
        },
        mode="offline",
    )
    run_graph(every, RunOptions(max_frames=FRAMES, quiet=True, handle_signals=False, log=lambda _m: None))
    return {
        "offline_audio": decode(tmp / "offline.mp4").audio_packets,
        "alone_audio": decode(tmp / "alone.mp4").audio_packets,
        "alone": alone,
        "filled": filled,
        "src": decode(CLIP).times[:FRAMES],
        "alone_t": decode(tmp / "alone.mp4").times,
        "filled_out": decode(tmp / "filled.mp4"),
    }


def test_translate_alone_drops_frames_and_counts_them(runs: dict[str, Any]) -> None:
    r: RunResult = runs["alone"]
    drops = sum(m.drops for m in r.metrics)
    assert drops > 0  # 100 ms a frame cannot keep up with 30 frames/s
    # every source frame is either written or counted as dropped, and the drops are at the
    # entrance: translate worked only on frames that were written
    assert r.stage("out").frames_in + drops == FRAMES
    assert r.stage("cam").drops == drops
    assert r.stage("style").frames_in == r.stage("out").frames_in
    assert len(runs["alone_t"]) == FRAMES - drops
    assert set(runs["alone_t"]) < set(runs["src"])


def test_predict_puts_back_every_dropped_frame_at_its_source_pts(runs: dict[str, Any]) -> None:
    r: RunResult = runs["filled"]
    style_drops = r.stage("cam").drops  # the frames translate had no time for, dropped at the entrance
    assert sum(m.drops for m in r.metrics) == style_drops  # nothing dropped after the entrance
    assert r.stage("style").frames_in == FRAMES - style_drops
    fill = r.stage("fill").counters
    # each frame dropped for translate comes back, predicted or (past max_gap) repeated, and counted
    assert fill["predicted"] + fill["repeated"] == style_drops
    assert r.stage("out").frames_in == FRAMES
    out = runs["filled_out"]
    assert out.times == runs["src"]  # every source timestamp, in order (mp4 keeps them exactly)
    assert out.audio_codec == "aac" and out.audio_packets > 0
    assert style_drops > 0 and fill["predicted"] > 0


def test_audio_of_frames_dropped_at_the_entrance_is_kept(runs: dict[str, Any]) -> None:
    # the same 45 frames run offline (nothing dropped) carry exactly as many audio packets
    assert runs["alone_audio"] == runs["filled_out"].audio_packets == runs["offline_audio"] > 0
