"""Runner: backpressure, live admission and drops, end of stream, error stop, fan-out, flush, max-frames."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

from streamer.errors import StreamerError
from streamer.graph import load_graph
from streamer.metrics import StageMetrics
from streamer.runner import Edge, GraphRunner, RunOptions, _End, run_graph
from tests.unit import fake_stages as fs


@pytest.fixture(autouse=True)
def _reset() -> None:
    fs.reset()


def graph(tmp_path: Path, text: str, overrides: list[str] | None = None):
    p = tmp_path / "g.yaml"
    p.write_text(textwrap.dedent(text))
    return load_graph(p, overrides or [])


OPTS = RunOptions(quiet=True, handle_signals=False)

CHAIN = """\
    stages:
      - {name: src, type: t_source, frames: 40}
      - {name: work, type: t_slow, seconds: 0.0}
      - {name: out, type: t_collect}
    """


def test_offline_delivers_every_frame_in_order_with_audio(tmp_path: Path) -> None:
    result = run_graph(graph(tmp_path, CHAIN), OPTS)
    frames = fs.COLLECTED["out"]
    assert [f.index for f in frames] == list(range(40))
    assert [f.pts for f in frames] == [512 * i for i in range(40)]
    assert [f.audio for f in frames] == [(f"a{i}",) for i in range(40)]
    assert fs.TRAILING["out"] == ("tail",)  # natural end passes trailing audio to sinks
    assert result.error is None and result.stopped is None
    m = result.stage("work")
    assert (m.frames_in, m.frames_out, m.drops) == (40, 40, 0)
    assert result.stage("out").frames_in == 40
    assert sorted(fs.CLOSED) == ["out", "src", "work"]
    assert "work" in result.table() and "p95 ms" in result.table()


def test_latency_is_the_stage_own_work_and_waiting_downstream_is_counted_apart(tmp_path: Path) -> None:
    """Offline, every stage upstream of a slow one waits for room in its queue; that wait is
    backpressure, not its work: its latency stays its own, the wait goes to ``blocked``."""
    spec = graph(tmp_path, CHAIN, ["src.frames=20", "work.seconds=0.0", "out.seconds=0.02"])
    result = run_graph(spec, OPTS)
    work, out = result.stage("work"), result.stage("out")
    assert out.percentile_ms(50) >= 19  # the sink's sleep is its work
    p50 = work.percentile_ms(50)
    assert p50 is not None and p50 < 5  # passing a frame on costs nothing ...
    # ... but it waited for the sink on most frames (20 frames x 20 ms, less the queue's slack)
    assert work.blocked > 0.2 and work.busy < 0.1
    assert result.to_json()["stages"][1]["blocked_s"] == pytest.approx(work.blocked, abs=1e-3)


def test_offline_backpressure_bounds_queues(tmp_path: Path) -> None:
    spec = graph(tmp_path, CHAIN, ["src.frames=30", "out.seconds=0.01", "out.queue=2", "work.queue=3"])
    runner = GraphRunner(spec, OPTS)
    peak = {"out": 0, "work": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for k in peak:
                peak[k] = max(peak[k], len(runner.inbox[k]))
            time.sleep(0.001)

    t = threading.Thread(target=watch)
    t.start()
    try:
        result = runner.run()
    finally:
        done.set()
        t.join()
    assert len(fs.COLLECTED["out"]) == 30  # nothing lost although the sink is the slowest
    assert result.stage("out").drops == 0
    assert peak["out"] <= 2 and peak["work"] <= 3
    assert peak["out"] == 2  # the slow sink really did back up its queue


def test_live_without_admission_keeps_newest_and_counts_drops(tmp_path: Path) -> None:
    """``max_in_flight: 0``: no admission, processing queues drop their oldest frame (as before)."""
    spec = graph(
        tmp_path,
        CHAIN,
        ["src.live=true", "src.frames=60", "src.interval=0.002", "out.seconds=0.02", "max_in_flight=0"],
    )
    assert spec.mode == "live" and spec.max_in_flight == 0
    result = run_graph(spec, OPTS)
    got = fs.COLLECTED["out"]
    drops = result.stage("out").drops + result.stage("work").drops
    assert drops > 10 and result.stage("src").drops == 0
    assert len(got) + drops == 60  # every frame is either delivered or counted as dropped
    idx = [f.index for f in got]
    assert idx == sorted(idx) and idx[-1] == 59  # order kept, and the newest frame arrives
    # audio of dropped frames moved onto the frames that replaced them: none lost
    tokens = [a for f in got for a in f.audio]
    assert tokens == [f"a{i}" for i in range(60)]


def test_live_admits_at_the_entrance_and_never_drops_in_the_middle(tmp_path: Path) -> None:
    """Live (default ``max_in_flight: 2``): a slow sink makes the source drop at the entrance;
    every frame a stage worked on is written, so the counts are identities whatever the timing."""
    spec = graph(
        tmp_path, CHAIN, ["src.live=true", "src.frames=60", "src.interval=0.002", "out.seconds=0.02"]
    )
    assert spec.mode == "live"
    runner = GraphRunner(spec, OPTS)
    result = runner.run()
    got = fs.COLLECTED["out"]
    src, work, out = result.stage("src"), result.stage("work"), result.stage("out")
    assert src.drops > 10  # 20 ms a frame cannot keep up with a frame every 2 ms
    assert work.drops == out.drops == 0  # nothing dropped after the entrance ...
    assert work.frames_in == out.frames_in == src.frames_out == len(got)  # ... so no work wasted
    assert src.frames_out + src.drops == 60  # every frame read is admitted or dropped at the entrance
    assert runner.gates["src"].peak <= 2 and runner.gates["src"].in_flight == 0
    idx = [f.index for f in got]
    assert idx == sorted(idx) and idx[-1] == 59  # the stream's last frame waits for room
    tokens = [a for f in got for a in f.audio]  # audio of frames dropped at the entrance: kept
    assert tokens == [f"a{i}" for i in range(60)]


def test_end_of_stream_flushes_held_frames(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source, frames: 7}
          - {name: hold, type: t_hold}
          - {name: out, type: t_collect}
        """
    result = run_graph(graph(tmp_path, text), OPTS)
    assert [f.index for f in fs.COLLECTED["out"]] == list(range(7))
    assert result.stage("hold").frames_out == 7


def test_fan_out_both_branches_get_everything(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source, frames: 25}
          - {name: a, type: t_collect}
          - {name: b, type: t_collect, input: src, seconds: 0.002}
        """
    run_graph(graph(tmp_path, text), OPTS)
    assert len(fs.COLLECTED["a"]) == 25 and len(fs.COLLECTED["b"]) == 25
    assert fs.COLLECTED["a"][3] is fs.COLLECTED["b"][3]


def test_error_stops_cleanly_and_names_stage_and_frame(tmp_path: Path) -> None:
    spec = graph(tmp_path, CHAIN, ["src.frames=1000", "work.fail_at=12", "work.seconds=0.001"])
    t = time.perf_counter()
    result = run_graph(spec, OPTS)
    assert time.perf_counter() - t < 10
    assert result.error is not None and result.stopped == "error"
    assert str(result.error) == "stage 'work' on frame 12: ValueError: boom"
    assert [f.index for f in fs.COLLECTED["out"]] == list(range(12))  # all before the failure
    assert result.stage("src").frames_out < 1000  # the source stopped early
    assert sorted(fs.CLOSED) == ["out", "src", "work"]  # everything closed, sink finalised


def test_open_error_closes_what_was_opened(tmp_path: Path) -> None:
    spec = graph(tmp_path, CHAIN, ["out.fail_open=true"])
    with pytest.raises(StreamerError, match="cannot open test sink"):
        run_graph(spec, OPTS)


def test_max_frames_and_stop(tmp_path: Path) -> None:
    result = run_graph(
        graph(tmp_path, CHAIN, ["src.frames=100"]), RunOptions(quiet=True, handle_signals=False, max_frames=9)
    )
    assert len(fs.COLLECTED["out"]) == 9
    assert "out" not in fs.TRAILING or fs.TRAILING["out"] == ()  # cut short: no trailing audio
    assert result.stopped is None

    fs.reset()
    spec = graph(tmp_path, CHAIN, ["src.frames=100000", "src.interval=0.001"])
    runner = GraphRunner(spec, OPTS)
    threading.Timer(0.3, runner.request_stop).start()
    result = runner.run()
    assert result.stopped == "signal"
    n = len(fs.COLLECTED["out"])
    assert 0 < n < 100000 and result.stage("src").frames_out == n  # what was read was delivered


def test_realtime_paces_file_sources(tmp_path: Path) -> None:
    spec = graph(tmp_path, CHAIN, ["src.frames=16"])  # 16 frames at 30 fps = 0.5 s
    t = time.perf_counter()
    run_graph(spec, RunOptions(quiet=True, handle_signals=False, realtime=True))
    assert time.perf_counter() - t >= 0.45
    assert len(fs.COLLECTED["out"]) == 16


def test_edge_live_never_drops_end_of_stream() -> None:
    edge = Edge(1, policy="newest", abort=threading.Event(), metrics=StageMetrics("x", "y"))
    edge.put(_End())
    assert isinstance(edge.get(), _End)
    assert edge.metrics.drops == 0


def test_realtime_file_in_live_mode_drops_when_a_stage_is_slow(tmp_path: Path) -> None:
    clip = Path(__file__).resolve().parents[2] / "samples" / "face_audio.mp4"
    p = tmp_path / "g.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        stages:
          - {{name: cam, type: capture, uri: "{clip}"}}
          - {{name: work, type: t_slow, seconds: 0.06}}
          - {{name: out, type: t_collect}}
        """)
    )
    spec = load_graph(p, mode="live")
    t = time.perf_counter()
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False, realtime=True, max_frames=60))
    elapsed = time.perf_counter() - t
    assert elapsed >= 1.9  # 60 frames at 30 fps are released over 2 s
    got = fs.COLLECTED["out"]
    drops = result.stage("cam").drops  # at the entrance (live admission), none after it
    assert drops >= 10  # a 16 fps stage behind a 30 fps camera must shed frames
    assert sum(m.drops for m in result.metrics) == drops
    assert len(got) + drops == 60 and result.stage("work").frames_in == len(got)
    pts = [f.pts for f in got]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
