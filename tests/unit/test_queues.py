"""Queue policy per input (declared by stage types, overridable in YAML) and live admission at the
graph entrance (``max_in_flight``). Counts are identities, not timings: the stages that must be
slow sleep on purpose, and every frame is either admitted or counted as dropped at the entrance."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest

from streamer.errors import GraphError
from streamer.graph import MAX_IN_FLIGHT, build_graph
from streamer.metrics import StageMetrics
from streamer.runner import Edge, Gate, GraphRunner, RunOptions, _End, run_graph
from streamer.stages.base import RunContext, StageParams, input_queue, load_all
from tests.unit import fake_stages as fs
from tests.unit.test_runner import _reset, graph  # noqa: F401 - _reset: the autouse fixture resetting fs

OPTS = RunOptions(quiet=True, handle_signals=False)

#: what each stage type declares for its input (None: follows the run)
DECLARED = {
    "encode": "block",
    "events": "block",
    "frames": "block",
    "display": "newest",
    "preview": "newest",
    "t_preview": "newest",
}


LIVE = """\
    mode: live
    stages:
      - {name: src, type: t_source, frames: 60, interval: 0.002}
      - {name: work, type: t_slow, seconds: 0.0}
      - {name: out, type: t_collect, seconds: 0.02}
    """


# ---- declared defaults and their resolution --------------------------------------------------
@pytest.mark.parametrize("type_name", sorted(t for t, c in load_all().items() if c.role != "source"))
def test_every_stage_type_declares_its_input_policy(type_name: str) -> None:
    cls = load_all()[type_name]
    params = cls.Params.model_construct()
    assert cls.input_policy == DECLARED.get(type_name)
    # offline: every input blocks (nothing lost), whatever the type declares
    assert input_queue(cls, params, mode="offline", max_in_flight=2).policy == "block"
    assert input_queue(cls, params, mode="offline", max_in_flight=2).size == 4
    # live with admission: admitted frames are never dropped mid-graph; previews keep the newest
    live = input_queue(cls, params, mode="live", max_in_flight=2)
    assert live.policy == DECLARED.get(type_name, "block")
    assert live.size == (1 if live.policy == "newest" else 2)
    # live without admission: recordings block, the rest keeps the newest (as before admission)
    assert input_queue(cls, params, mode="live", max_in_flight=0).policy == (
        "block" if DECLARED.get(type_name) == "block" else "newest"
    )


def test_yaml_overrides_the_declared_policy_and_size() -> None:
    cls = load_all()["display"]
    q = input_queue(cls, cls.Params(queue_policy="block", queue=8), mode="live", max_in_flight=2)
    assert (q.policy, q.size, q.origin) == ("block", 8, "yaml")
    q = input_queue(load_all()["encode"], StageParams(), mode="live", max_in_flight=2)
    assert q.origin == "stage"


def test_graph_runs_with_the_resolved_queues(tmp_path: Path) -> None:
    text = textwrap.dedent(LIVE) + "  - {name: win, type: t_preview, input: work}\n"
    text += "  - {name: rec, type: t_collect, input: work, queue_policy: newest, queue: 3}\n"
    runner = GraphRunner(graph(tmp_path, text), OPTS)
    got = {k: (e.policy, e.maxsize) for k, e in runner.inbox.items()}
    assert got == {
        "work": ("block", 2),
        "out": ("block", 2),
        "win": ("newest", 1),
        "rec": ("newest", 3),
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "queue_policy: sometimes",
            ":4: stage 'out' (t_collect): key 'queue_policy': expected 'block' or 'newest', got 'sometimes'",
        ),
        ("queue: 0", ":4: stage 'out' (t_collect): key 'queue': expected greater than or equal to 1, got 0"),
    ],
)
def test_queue_params_are_validated_in_one_line(tmp_path: Path, line: str, message: str) -> None:
    text = f"""\
        stages:
          - {{name: src, type: t_source}}
          - {{name: work, type: t_slow}}
          - {{name: out, type: t_collect, {line}}}
        """
    with pytest.raises(GraphError) as err:
        graph(tmp_path, text)
    assert str(err.value) == f"{tmp_path / 'g.yaml'}{message}"


def test_a_source_has_no_queue_policy(tmp_path: Path) -> None:
    text = (
        "stages:\n  - {name: src, type: t_source, queue_policy: newest}\n  - {name: out, type: t_collect}\n"
    )
    with pytest.raises(GraphError, match="key 'queue_policy': a source has no input queue"):
        graph(tmp_path, text)


@pytest.mark.parametrize("value", ["-1", "many", "true", "65", "1.5"])
def test_max_in_flight_is_validated(tmp_path: Path, value: str) -> None:
    with pytest.raises(GraphError, match=r"key 'max_in_flight': expected an integer from 0 \(no admission\)"):
        graph(tmp_path, LIVE, [f"max_in_flight={value}"])


def test_max_in_flight_from_yaml_and_set(tmp_path: Path) -> None:
    assert graph(tmp_path, LIVE).max_in_flight == MAX_IN_FLIGHT == 2
    assert graph(tmp_path, "max_in_flight: 1\n" + textwrap.dedent(LIVE)).max_in_flight == 1
    assert graph(tmp_path, LIVE, ["max_in_flight=0"]).max_in_flight == 0
    doc = {"name": "x", "max_in_flight": 3, "stages": [{"name": "s", "type": "t_source"}]}
    assert build_graph(doc).max_in_flight == 3


# ---- offline never drops --------------------------------------------------------------------
def test_offline_never_drops_even_at_a_preview(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source, frames: 30}
          - {name: work, type: t_slow, seconds: 0.0}
          - {name: win, type: t_preview, seconds: 0.005}
          - {name: rec, type: t_collect, input: work}
        """
    result = run_graph(graph(tmp_path, text), OPTS)
    assert [f.index for f in fs.COLLECTED["win"]] == list(range(30))
    assert [f.index for f in fs.COLLECTED["rec"]] == list(range(30))
    assert sum(m.drops for m in result.metrics) == 0 and result.warnings == []


def test_offline_explicit_newest_is_allowed_with_a_warning(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source, frames: 30}
          - {name: rec, type: t_collect}
          - {name: win, type: t_preview, input: src, seconds: 0.01, queue_policy: newest, queue: 1}
        """
    result = run_graph(graph(tmp_path, text), OPTS)
    assert len(fs.COLLECTED["rec"]) == 30  # the recording keeps every frame
    assert len(fs.COLLECTED["win"]) + result.stage("win").drops == 30
    assert result.warnings == [
        "stage 'win' (t_preview): queue_policy: newest drops frames in offline mode (counted in its"
        " drops); remove it to keep every frame"
    ]


# ---- live admission -------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_admission_bounds_frames_in_flight(tmp_path: Path, limit: int) -> None:
    runner = GraphRunner(graph(tmp_path, LIVE, [f"max_in_flight={limit}"]), OPTS)
    result = runner.run()
    gate = runner.gates["src"]
    assert 1 <= gate.peak <= limit and gate.in_flight == 0
    src, work = result.stage("src"), result.stage("work")
    assert src.drops > 0 and work.frames_in == len(fs.COLLECTED["out"]) == src.frames_out
    assert src.frames_out + src.drops == 60


def test_fan_out_and_bursts_hold_the_frame_until_every_branch_is_done(tmp_path: Path) -> None:
    """A frame emitted several times (predict filling a gap) and read by two sinks stays in flight
    until every copy is written by both: a slow branch holds the entrance shut."""
    text = """\
        mode: live
        stages:
          - {name: src, type: t_source, frames: 40, interval: 0.002}
          - {name: burst, type: t_burst, copies: 3}
          - {name: fast, type: t_collect}
          - {name: slow, type: t_collect, input: burst, seconds: 0.01}
        """
    runner = GraphRunner(graph(tmp_path, text), OPTS)
    result = runner.run()
    fast, slow = fs.COLLECTED["fast"], fs.COLLECTED["slow"]
    assert [f.index for f in fast] == [f.index for f in slow]  # both branches got the same frames
    admitted = result.stage("src").frames_out
    assert len(slow) == 3 * admitted and admitted + result.stage("src").drops == 40
    assert result.stage("src").drops > 10  # 30 ms per admitted frame at the slow sink
    assert sum(m.drops for m in result.metrics[1:]) == 0
    assert runner.gates["src"].peak <= 2 and runner.gates["src"].in_flight == 0


def test_a_slow_preview_drops_at_its_queue_and_never_holds_the_entrance(tmp_path: Path) -> None:
    """A ``newest`` input (a preview) is best effort: the recording beside it gets every admitted
    frame at the recording's pace, the preview shows the newest it has time for."""
    text = """\
        mode: live
        stages:
          - {name: src, type: t_source, frames: 60, interval: 0.002}
          - {name: work, type: t_slow, seconds: 0.005}
          - {name: rec, type: t_collect}
          - {name: win, type: t_preview, input: work, seconds: 0.05}
        """
    result = run_graph(graph(tmp_path, text), OPTS)
    rec, win = fs.COLLECTED["rec"], fs.COLLECTED["win"]
    admitted = result.stage("src").frames_out
    assert len(rec) == admitted == result.stage("work").frames_in  # nothing lost after the entrance
    assert len(win) + result.stage("win").drops == admitted  # the preview's own drops, counted
    assert len(win) < len(rec)  # 50 ms a frame: the preview shed frames the recording kept
    assert win[-1].index == rec[-1].index == 59  # both end on the newest frame


def test_held_frames_leave_the_graph_and_flushed_ones_arrive(tmp_path: Path) -> None:
    """A stage that holds frames back (passes nothing on for now) frees their places; what it
    releases at end of stream still reaches the sink."""
    text = """\
        mode: live
        stages:
          - {name: src, type: t_source, frames: 20, interval: 0.002}
          - {name: hold, type: t_hold}
          - {name: out, type: t_collect}
        """
    runner = GraphRunner(graph(tmp_path, text), OPTS)
    result = runner.run()
    assert len(fs.COLLECTED["out"]) == result.stage("src").frames_out
    assert runner.gates["src"].in_flight == 0


def test_max_frames_admits_the_last_frame(tmp_path: Path) -> None:
    spec = graph(tmp_path, LIVE, ["src.frames=1000"])
    run_graph(spec, RunOptions(quiet=True, handle_signals=False, max_frames=30))
    got = fs.COLLECTED["out"]
    assert got[-1].index == 29
    assert [a for f in got for a in f.audio] == [f"a{i}" for i in range(30)]


def test_stopped_run_keeps_the_audio_of_a_refused_frame(tmp_path: Path) -> None:
    spec = graph(tmp_path, LIVE, ["src.frames=100000", "out.seconds=0.05"])
    runner = GraphRunner(spec, OPTS)
    threading.Timer(0.4, runner.request_stop).start()
    result = runner.run()
    assert result.stopped == "signal"
    src = result.stage("src")
    tokens = [a for f in fs.COLLECTED["out"] for a in f.audio] + list(fs.TRAILING["out"])
    assert tokens == [f"a{i}" for i in range(src.frames_out + src.drops)]  # none lost, in order


# ---- the pieces -----------------------------------------------------------------------------
def test_gate_admits_up_to_its_limit_and_frees_on_last_release() -> None:
    gate = Gate(2, abort=threading.Event())
    a, b = gate.try_admit(), gate.try_admit()
    assert a is not None and b is not None and gate.try_admit() is None
    gate.acquire(a)  # a second branch holds a
    gate.release(a)
    assert gate.try_admit() is None  # still held by that branch
    gate.release(a)
    c = gate.try_admit()
    assert c is not None and gate.in_flight == 2 and gate.peak == 2


def test_gate_waits_for_room_and_gives_up_on_abort() -> None:
    abort = threading.Event()
    gate = Gate(1, abort=abort)
    t = gate.try_admit()
    assert t is not None
    threading.Timer(0.1, gate.release, args=(t,)).start()
    assert gate.admit_waiting() is not None  # room after the release
    threading.Timer(0.1, abort.set).start()
    assert gate.admit_waiting() is None


def test_newest_edge_holds_no_ticket_and_keeps_audio_of_its_drops() -> None:
    gate = Gate(4, abort=threading.Event())
    newest = Edge(1, policy="newest", abort=threading.Event(), metrics=StageMetrics("x", "y"))
    block = Edge(2, policy="block", abort=threading.Event(), metrics=StageMetrics("z", "y"))
    src = fs.CountSource("s", fs.CountSource.Params(frames=2), RunContext())
    src.open()
    f0, f1 = list(src.frames())
    for f in (f0, f1):
        t = gate.try_admit()
        assert t is not None
        newest.put(f, t)  # best effort: the frame no longer counts as in flight there ...
        block.put(f, t)  # ... but a blocking input holds it
        gate.release(t)  # the producer's own reference
    assert newest.metrics.drops == 1 and gate.in_flight == 2
    item = newest.get()
    assert item is not None and not isinstance(item, _End)
    assert item.index == 1 and item.audio == ("a0", "a1")  # the dropped frame's audio moved on
    assert block.get() is f0 and gate.in_flight == 1
    assert block.get() is f1 and gate.in_flight == 0
