"""In-process runner hooks: end-to-end latency per sink, translate's model hot swap mid-run,
runtime param rules, and the frame hub (one JPEG per frame for all viewers)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tests.unit.fake_stages as fake
from streamer.errors import GraphError
from streamer.frame import Frame
from streamer.graph import build_graph
from streamer.onnx import OnnxModel
from streamer.runner import GraphRunner, RunOptions, run_graph
from streamer.serve.hub import FrameHub
from streamer.stages.base import RunContext, load_all
from tests.unit.serve.conftest import ROOT, until

MODEL_A = ROOT / "models" / "face_drawing.onnx"
MODEL_B = ROOT / "models" / "face_drawing_BtoA.onnx"


def test_sink_end_to_end_latency() -> None:
    fake.reset()
    spec = build_graph(
        {
            "stages": [
                {"name": "src", "type": "t_source", "frames": 12},
                {"name": "work", "type": "t_slow", "seconds": 0.02},
                {"name": "out", "type": "t_collect"},
                {"name": "tap", "type": "t_collect", "input": "src"},
            ]
        }
    )
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False))
    out, tap = result.stage("out"), result.stage("tap")
    assert len(out.e2e) == 12 and len(tap.e2e) == 12
    assert out.e2e_ms(50) >= 20.0 and out.e2e_ms(95) >= out.e2e_ms(50)  # includes work's 20 ms
    assert tap.e2e_ms(50) < out.e2e_ms(50)
    assert result.stage("work").e2e_ms(50) is None  # not a sink
    assert all(f.captured is not None for f in fake.COLLECTED["out"])
    row = next(s for s in result.to_json()["stages"] if s["stage"] == "out")
    assert row["e2e_p50_ms"] == pytest.approx(out.e2e_ms(50), abs=1e-3)
    header = result.table().splitlines()[0]
    assert "e2e p50 ms" in header and "e2e p95 ms" in header


def test_translate_model_hot_swap_keeps_every_frame() -> None:
    """Offline, 40 frames; the model changes after the sink has seen 8: every frame arrives once,
    in order, and from one frame on every output is model B's, before it model A's."""
    fake.reset()
    frames = 40
    spec = build_graph(
        {
            "mode": "offline",
            "stages": [
                {
                    "name": "cam",
                    "type": "capture",
                    "uri": "testsrc",
                    "width": 64,
                    "height": 48,
                    "frames": frames,
                },
                {"name": "style", "type": "translate", "model": str(MODEL_A), "threads": 1},
                {"name": "slow", "type": "t_slow", "seconds": 0.01},
                {"name": "out", "type": "t_collect"},
                {"name": "src", "type": "t_collect", "input": "cam"},
            ],
        }
    )
    runner = GraphRunner(spec, RunOptions(quiet=True, handle_signals=False))
    results: list = []
    thread = threading.Thread(target=lambda: results.append(runner.run()), daemon=True)
    thread.start()
    until(lambda: len(fake.COLLECTED.get("out", [])) >= 8, timeout=30, every=0.005)
    params, applied = runner.set_params("style", {"model": str(MODEL_B)}, wait=10)
    assert applied and params.model == str(MODEL_B)
    thread.join(timeout=60)
    assert not thread.is_alive() and results[0].error is None

    out, src = fake.COLLECTED["out"], fake.COLLECTED["src"]
    assert [f.index for f in out] == list(range(frames))  # none dropped or doubled
    assert [f.index for f in src] == list(range(frames))
    a, b = OnnxModel(MODEL_A), OnnxModel(MODEL_B)
    which = []
    for got, source in zip(out, src, strict=True):
        by_a = np.abs(a.run(source.image[None])[0].astype(int) - got.image).max()
        by_b = np.abs(b.run(source.image[None])[0].astype(int) - got.image).max()
        assert min(by_a, by_b) <= 1, f"frame {got.index}: neither model's output"
        which.append("a" if by_a <= by_b else "b")
    switch = which.index("b")
    assert 8 <= switch < frames and which == ["a"] * switch + ["b"] * (frames - switch)
    assert runner.stages["style"].params.model == str(MODEL_B)


def test_set_params_refuses_what_yaml_refuses(tmp_path: Path) -> None:
    fake.reset()
    spec = build_graph(
        {
            "stages": [
                {"name": "src", "type": "t_source", "frames": 5},
                {"name": "style", "type": "translate", "model": str(MODEL_A)},
                {"name": "out", "type": "t_collect"},
            ]
        }
    )
    runner = GraphRunner(spec, RunOptions(quiet=True, handle_signals=False))
    with pytest.raises(GraphError, match=r"stage 'style' \(translate\): key 'every': expected greater"):
        runner.set_params("style", {"every": 0})
    with pytest.raises(
        GraphError, match="key 'region': cannot change while running; adjustable: every, feather"
    ):
        runner.set_params("style", {"region": "faces"})
    with pytest.raises(GraphError, match="params: only: enrolled needs region: faces"):
        runner.set_params("style", {"only": "enrolled"})
    with pytest.raises(GraphError, match="no stage named 'nope'"):
        runner.set_params("nope", {"every": 2})
    with pytest.raises(GraphError, match=r"key 'model': .*nope\.onnx"):
        runner.set_params("style", {"model": str(tmp_path / "nope.onnx")})


def _frame(i: int, size: int = 64) -> Frame:
    from fractions import Fraction

    from streamer.frame import StreamInfo

    info = StreamInfo(uri="t", width=size, height=size, time_base=Fraction(1, 30), rate=Fraction(30))
    return Frame(
        image=np.full((size, size, 3), i, np.uint8), index=i, pts=i, time_base=Fraction(1, 30), stream=info
    )


def test_hub_encodes_once_for_all_viewers() -> None:
    hub = FrameHub(["cam"])

    async def watch() -> tuple[list[bytes], list[bytes], dict]:
        loop = asyncio.get_running_loop()
        one, two = hub.subscribe("cam", 32, loop), hub.subscribe("cam", 32, loop)
        assert one is two  # one encoder for both viewers
        seen: tuple[list[bytes], list[bytes]] = ([], [])
        for i in range(5):
            hub.offer("cam", _frame(i))
            for stream, got in ((one, seen[0]), (two, seen[1])):
                jpeg, _ = await stream.next(len(got), timeout=2.0)
                assert jpeg is not None
                got.append(jpeg)
        stats = hub.stats()
        hub.unsubscribe(one)
        hub.unsubscribe(two)
        return seen[0], seen[1], stats

    t = time.monotonic()
    first, second, stats = asyncio.run(watch())
    hub.close()
    assert first == second and len(first) == 5
    assert stats == {"cam@32": {"viewers": 2, "encoded": 5}}
    assert time.monotonic() - t < 10
    # offering never waits, with or without viewers
    frame = _frame(0)
    t = time.perf_counter()
    for _ in range(1000):
        hub.offer("cam", frame)
    assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize("type_name", sorted(t for t in load_all() if not t.startswith("t_")))
def test_runtime_params_are_params_of_the_stage(type_name: str) -> None:
    cls = load_all()[type_name]
    assert cls.runtime_params <= set(cls.Params.model_fields), cls.runtime_params - set(
        cls.Params.model_fields
    )
    assert not cls.runtime_params & {"queue", "queue_policy", "threads", "providers"}  # fixed once running


@pytest.mark.parametrize("type_name", ["deepfake", "verify"])
def test_threshold_change_replaces_the_resolved_one(type_name: str) -> None:
    cls = load_all()[type_name]
    extra = {"gallery": "g.json"} if type_name == "verify" else {}
    stage = cls("s", cls.Params(**extra), RunContext())
    stage.threshold = 0.5  # as open() resolved it
    stage.apply_params(cls.Params(**extra, threshold=0.25))
    assert stage.threshold == 0.25 and stage.params.threshold == 0.25
    stage.apply_params(cls.Params(**extra))  # null: keep the resolved one
    assert stage.threshold == 0.25
