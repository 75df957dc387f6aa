"""The thread budget: cores divided among the stages' thread pools before anything opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer import threads
from streamer.graph import build_graph, load_graph

ROOT = Path(__file__).resolve().parents[2]


def _spec(*stages: dict) -> object:
    return build_graph({"name": "g", "stages": list(stages)})


CAM = {"name": "cam", "type": "capture", "uri": "testsrc", "frames": 2}
OUT = {"name": "out", "type": "null"}


def test_file_stylize_on_two_cores_gives_each_pool_one_thread() -> None:
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml")
    plan = threads.plan({s.name: s.params for s in spec.stages}, cores=2)
    assert plan == {"cam": 1, "style": 1, "out": 1}


def test_models_weigh_twice_a_codec_and_shares_add_up_to_the_cores() -> None:
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml")
    params = {s.name: s.params for s in spec.stages}
    assert threads.plan(params, cores=8) == {"cam": 2, "style": 4, "out": 2}
    for cores in range(3, 17):
        assert sum(threads.plan(params, cores=cores).values()) == cores


def test_explicit_threads_are_kept_and_taken_out_of_the_budget() -> None:
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml", ["style.threads=4"])
    plan = threads.plan({s.name: s.params for s in spec.stages}, cores=8)
    assert "style" not in plan and plan == {"cam": 2, "out": 2}


def test_more_pools_than_cores_each_get_one() -> None:
    stages = (
        [CAM]
        + [{"name": f"m{i}", "type": "translate", "model": "m.onnx"} for i in range(3)]
        + [{"name": "out", "type": "encode", "path": "x.mp4"}]
    )
    spec = _spec(*stages)
    assert threads.plan({s.name: s.params for s in spec.stages}, cores=2) == {
        "cam": 1,
        "m0": 1,
        "m1": 1,
        "m2": 1,
        "out": 1,
    }


def test_apply_writes_the_shares_into_the_params(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml")
    budgeted, plan = threads.apply(spec, cores=2)
    assert {s.name: getattr(s.params, "threads", None) for s in budgeted.stages} == {
        "cam": 1,
        "faces": None,
        "style": 1,
        "out": 1,
    }
    assert spec.stage("style").params.threads is None  # the original spec is untouched


def test_environment_sets_or_disables_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml")
    params = {s.name: s.params for s in spec.stages}
    monkeypatch.setenv(threads.ENV_VAR, "4")
    assert threads.available_cores() == 4 and sum(threads.plan(params).values()) == 4
    monkeypatch.setenv(threads.ENV_VAR, "off")
    assert threads.plan(params) == {}


def test_a_graph_without_a_model_keeps_its_codecs_defaults() -> None:
    spec = load_graph(ROOT / "graphs" / "file_transcode.yaml")
    assert threads.plan({s.name: s.params for s in spec.stages}, cores=2) == {}


def test_a_run_reports_its_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamer.runner import RunOptions, run_graph

    monkeypatch.setenv(threads.ENV_VAR, "2")
    frame = {"name": "style", "type": "translate", "model": str(ROOT / "models" / "cartoon.onnx"), "size": 64}
    spec = _spec(CAM, frame, {"name": "out", "type": "encode", "path": str(tmp_path / "x.mp4")})
    lines: list[str] = []
    result = run_graph(spec, RunOptions(handle_signals=False, progress=False, log=lines.append))
    assert result.error is None
    want = {"cam": 1, "style": 1, "out": 1}
    assert result.threads == want and result.to_json()["threads"] == want
    assert "threads: cam 1, style 1, out 1 (2 cores; set STAGE.threads to override)" in lines


def test_a_model_on_the_gpu_takes_one_thread_and_leaves_the_codecs_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # on an H200 machine (16 cores) the budget gave x264 4 threads: pipeline 46 fps < naive 51
    monkeypatch.setattr(threads, "_cuda_works", lambda: True)
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml")
    assert threads.plan({s.name: s.params for s in spec.stages}, cores=16) == {"style": 1}
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml", ["style.providers=[cuda]"])
    monkeypatch.setattr(threads, "_cuda_works", lambda: False)  # asked for by name: on the GPU anyway
    assert threads.plan({s.name: s.params for s in spec.stages}, cores=16) == {"style": 1}


def test_a_model_kept_on_the_cpu_still_shares_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_cuda_works", lambda: True)
    spec = load_graph(ROOT / "graphs" / "file_stylize.yaml", ["style.providers=[cpu]"])
    assert threads.plan({s.name: s.params for s in spec.stages}, cores=8) == {"cam": 2, "style": 4, "out": 2}
    stages = [
        CAM,
        {"name": "gpu", "type": "translate", "model": "m.onnx", "providers": ["cuda"]},
        {"name": "cpu", "type": "translate", "model": "m.onnx", "providers": ["cpu"]},
        {"name": "out", "type": "encode", "path": "x.mp4"},
    ]
    spec = _spec(*stages)
    plan = threads.plan({s.name: s.params for s in spec.stages}, cores=9)
    assert plan["gpu"] == 1 and sum(plan.values()) == 9
    assert plan == {"cam": 2, "cpu": 4, "out": 2, "gpu": 1}
