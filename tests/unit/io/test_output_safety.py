"""Outputs never destroy or corrupt (DESIGN 3.4b): an output that is an input is refused at graph
build; files are written under a partial name and renamed when finalised; a second writer is
refused by a lock; a killed live recording still plays; Ctrl-C leaves the complete file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from streamer.errors import GraphError, SinkError
from streamer.graph import build_graph
from streamer.io import VideoWriter
from streamer.io.output_file import OutputFile, lock_path, partial_path
from tests.unit.io.media import bar_image, make_clip

ROOT = Path(__file__).resolve().parents[3]
TB = Fraction(1, 15360)


def _graph(uri: str, out: str, *, sink: str = "encode", key: str = "path") -> dict[str, Any]:
    return {
        "name": "g",
        "stages": [
            {"name": "cam", "type": "capture", "uri": uri, "__line__": 3},
            {"name": "out", "type": sink, key: out, "__line__": 6},
        ],
    }


# -- an output that is an input, or another output, is refused before anything runs ---------------


@pytest.mark.parametrize("spelling", ["in.mp4", "./in.mp4", "{abs}", "sub/../in.mp4", "link.mp4", "hard.mp4"])
def test_output_that_is_the_input_is_refused(tmp_path: Path, monkeypatch: Any, spelling: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.mp4").write_bytes(b"precious")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mp4").symlink_to("in.mp4")
    os.link(tmp_path / "in.mp4", tmp_path / "hard.mp4")
    out = spelling.format(abs=tmp_path / "in.mp4")
    with pytest.raises(GraphError) as err:
        build_graph(_graph("in.mp4", out), path=Path("graphs/x.yaml"))
    msg = str(err.value)
    assert msg.startswith(
        f"graphs/x.yaml:6: stage 'out' (encode): key 'path': {out} is the input of stage 'cam'"
    )
    assert msg.endswith("expected a different file") and "\n" not in msg
    assert (tmp_path / "in.mp4").read_bytes() == b"precious"


def test_input_found_beside_the_graph_file_is_compared(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "clip.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    # capture resolves clip.mp4 beside the graph (RunContext.resolve); the output names it absolutely
    with pytest.raises(GraphError, match="is the input of stage 'cam'"):
        build_graph(
            _graph("clip.mp4", str(tmp_path / "graphs" / "clip.mp4")), path=tmp_path / "graphs" / "g.yaml"
        )
    build_graph(_graph("clip.mp4", "clip.mp4"), path=tmp_path / "graphs" / "g.yaml")  # ./clip.mp4 is new


def test_events_over_the_input_and_frames_over_an_image_folder_are_refused(tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"x")
    with pytest.raises(
        GraphError, match=r"stage 'out' \(events\): key 'path': .* is the input of stage 'cam'"
    ):
        build_graph(_graph(str(clip), str(clip), sink="events"))
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "000001.png").write_bytes(b"x")
    for uri in (str(pics), str(pics / "*.png")):
        with pytest.raises(
            GraphError, match=r"stage 'out' \(frames\): key 'dir': .* is the input of stage 'cam'"
        ):
            build_graph(_graph(uri, str(pics) + "/", sink="frames", key="dir"))


def test_two_sinks_writing_one_file_are_refused(tmp_path: Path) -> None:
    doc = _graph("testsrc", str(tmp_path / "o" / "x.mp4"))
    doc["stages"].append(
        {"name": "ev", "type": "events", "input": "cam", "path": f"{tmp_path}/o/../o/x.mp4", "__line__": 9}
    )
    with pytest.raises(GraphError) as err:
        build_graph(doc, path=Path("g.yaml"))
    assert str(err.value).startswith("g.yaml:9: stage 'ev' (events): key 'path': ")
    assert "is also written by stage 'out' (key 'path'); expected one writer per file" in str(err.value)


def test_distinct_outputs_and_urls_pass(tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(b"x")
    doc = _graph(str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"))
    doc["stages"].append({"name": "udp", "type": "encode", "input": "cam", "path": "udp://127.0.0.1:5000"})
    doc["stages"].append({"name": "ev", "type": "events", "input": "cam", "path": "-"})
    assert len(build_graph(doc).stages) == 4


def test_run_with_the_input_as_output_exits_non_zero_and_keeps_the_input(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, audio=False)
    before = clip.read_bytes()
    for cmd in ("check", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "streamer", cmd, "graphs/file_transcode.yaml"]
            + ["--set", f"cam.uri={clip}", "--set", f"out.path={tmp_path}/./in.mp4"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "stage 'out' (encode): key 'path'" in lines[0]
        assert "is the input of stage 'cam'" in lines[0]
    assert clip.read_bytes() == before


# -- partial name, rename, lock ----------------------------------------------------------------------


def test_naming() -> None:
    assert partial_path(Path("out/x.mp4")) == Path("out/x.partial.mp4")
    assert lock_path(Path("out/x.mp4")) == Path("out/.x.mp4.lock")


def test_written_under_the_partial_name_then_renamed(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    out.write_bytes(b"old")
    logs: list[str] = []
    w = VideoWriter(str(out), log=logs.append)
    w.open()
    assert (tmp_path / ".x.mp4.lock").exists()
    for i in range(60):  # past the encoder's lookahead, so the muxer has written to the file
        w.write(bar_image(i), 512 * i, TB, rate=Fraction(30))
    assert out.read_bytes() == b"old" and (tmp_path / "x.partial.mp4").stat().st_size > 0
    assert any("x.partial.mp4 until finalised" in line for line in logs)
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60


def test_failed_run_keeps_the_partial_file_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    out.write_bytes(b"old")
    logs: list[str] = []
    w = VideoWriter(str(out), log=logs.append)
    w.open()
    for i in range(4):
        w.write(bar_image(i), 512 * i, TB, rate=Fraction(30))
    w.close(complete=False)
    assert out.read_bytes() == b"old"  # the final name is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4", "x.partial.mp4"]
    assert "not finalised; what was written so far is in" in logs[-1] and "x.partial.mp4" in logs[-1]
    with av.open(str(tmp_path / "x.partial.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4  # finalised, just not renamed


def test_a_stage_failing_mid_run_leaves_partial_files(tmp_path: Path) -> None:
    import tests.unit.fake_stages  # noqa: F401 - registers t_slow
    from streamer.runner import RunOptions, run_graph

    spec = build_graph(
        {
            "name": "g",
            "stages": [
                {"name": "cam", "type": "capture", "uri": "testsrc", "width": 64, "height": 48, "frames": 20},
                {"name": "bad", "type": "t_slow", "fail_at": 8},
                {"name": "out", "type": "encode", "path": str(tmp_path / "v.mp4")},
                {"name": "ev", "type": "events", "input": "bad", "path": str(tmp_path / "e.jsonl")},
            ],
        }
    )
    logs: list[str] = []
    result = run_graph(spec, RunOptions(quiet=True, progress=False, log=logs.append, handle_signals=False))
    assert result.error is not None
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["e.partial.jsonl", "v.partial.mp4"]
    assert len((tmp_path / "e.partial.jsonl").read_text().splitlines()) == 8
    with av.open(str(tmp_path / "v.partial.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8  # finalised, plays, just not renamed
    assert sum("not finalised" in line for line in logs) == 2


def test_second_writer_in_one_process_is_refused(tmp_path: Path) -> None:
    first = VideoWriter(str(tmp_path / "x.mp4"))
    first.open()
    for spelling in (str(tmp_path / "x.mp4"), f"{tmp_path}/./x.mp4"):
        with pytest.raises(SinkError) as err:
            VideoWriter(spelling, what="stage 'b' (encode)").open()
        msg = str(err.value)
        assert msg.startswith("stage 'b' (encode): ") and f"being written by process {os.getpid()}" in msg
        assert "\n" not in msg
    first.close()  # no frame: nothing left behind, and the path is free again
    assert list(tmp_path.iterdir()) == []
    second = VideoWriter(str(tmp_path / "x.mp4"))
    second.open()
    second.close()


def test_lock_held_by_another_process_refuses_and_kill_9_frees_it(tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    code = textwrap.dedent(f"""
        import sys, time
        from streamer.io.output_file import OutputFile
        OutputFile({str(target)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(SinkError, match=f"being written by process {child.pid}"):
            OutputFile(target).acquire()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert lock_path(target).exists()  # a stale lock file after kill -9 ...
    out = OutputFile(target)
    out.acquire()  # ... never blocks: the kernel released the lock with the process
    out.release()
    assert not lock_path(target).exists()


def test_events_and_frames_take_the_lock(tmp_path: Path) -> None:
    from streamer.stages.base import RunContext
    from streamer.stages.events import Events
    from streamer.stages.frames import Frames
    from tests.unit.stages.conftest import make_frame

    a = Events("a", Events.Params(path=str(tmp_path / "e.jsonl")), RunContext())
    a.open()
    with pytest.raises(SinkError, match="being written by"):
        Events("b", Events.Params(path=str(tmp_path / "e.jsonl")), RunContext()).open()
    a.close()
    f = Frames("f", Frames.Params(dir=str(tmp_path / "fr")), RunContext())
    f.open()
    with pytest.raises(SinkError, match="being written by"):
        Frames("g", Frames.Params(dir=str(tmp_path / "fr")), RunContext()).open()
    f.process(make_frame(3))
    f.close()
    assert sorted(p.name for p in (tmp_path / "fr").iterdir()) == ["000003.png"]  # no .partial left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fr"]  # locks removed; no line, no events file


def test_a_partial_file_left_by_a_killed_run_is_named_then_replaced(tmp_path: Path) -> None:
    (tmp_path / "x.partial.mp4").write_bytes(b"left by kill -9")
    logs: list[str] = []
    w = VideoWriter(str(tmp_path / "x.mp4"), log=logs.append)
    w.open()
    assert "x.partial.mp4 left by an earlier run that did not finish will be replaced" in logs[0]
    for i in range(3):
        w.write(bar_image(i), 512 * i, TB, rate=Fraction(30))
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_devices_and_fifos_are_written_in_place(tmp_path: Path) -> None:
    import stat

    from streamer.stages.base import RunContext
    from streamer.stages.events import Events
    from tests.unit.stages.conftest import make_frame

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for path in ("/dev/null", str(fifo)):
            stage = Events("ev", Events.Params(path=path), RunContext())
            stage.open()
            stage.process(make_frame(0))
            stage.close()
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert json.loads(os.read(reader, 4096))["frame"] == 0
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


# -- kill -9 and Ctrl-C of a live recording ----------------------------------------------------------


def _start_recording(tmp_path: Path) -> subprocess.Popen[str]:
    graph = tmp_path / "rec.yaml"
    graph.write_text(
        textwrap.dedent(f"""
        name: rec
        mode: live
        stages:
          - name: cam
            type: capture
            uri: testsrc
            width: 160
            height: 120
          - name: out
            type: encode
            path: {tmp_path}/rec.mp4
            threads: 1
          - name: ev
            type: events
            input: cam
            path: {tmp_path}/rec.jsonl
        """)
    )
    return subprocess.Popen(
        [sys.executable, "-m", "streamer", "run", str(graph), "--realtime", "--quiet"]
        + ["--json", str(tmp_path / "m.json")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _event_times(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [json.loads(line)["time"] for line in path.read_text().splitlines() if line.endswith("}")]


def _wait_for_stream_time(proc: subprocess.Popen[str], events: Path, seconds: float) -> None:
    """Wait until the run has reached ``seconds`` of stream time (its own pace, not ours)."""
    deadline = time.monotonic() + 60
    while (max(_event_times(events), default=-1.0) < seconds) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate(timeout=10)[1]
        time.sleep(0.05)
    assert max(_event_times(events), default=-1.0) >= seconds, "the recording never got going"


def _decoded_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


@pytest.mark.timeout(120)
def test_kill_9_leaves_a_playable_file_up_to_2_s_before(tmp_path: Path) -> None:
    proc = _start_recording(tmp_path)
    try:
        _wait_for_stream_time(proc, tmp_path / "rec.partial.jsonl", 3.0)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert not (tmp_path / "rec.mp4").exists()  # never a broken file under the final name
    seen = _event_times(tmp_path / "rec.partial.jsonl")  # every frame the graph had at the kill
    cutoff = seen[-1] - 2.0
    expected = [t for t in seen if t <= cutoff]
    assert len(expected) >= 15
    times = _decoded_times(tmp_path / "rec.partial.mp4")
    got = [t for t in times if t <= cutoff]
    # live mode may drop a frame on the way to the encoder; nearly all must be there
    assert len(got) >= 0.8 * len(expected), (len(got), len(expected), seen[-1])
    assert times[-1] >= cutoff


@pytest.mark.timeout(120)
def test_second_run_writing_the_same_file_is_refused(tmp_path: Path) -> None:
    proc = _start_recording(tmp_path)
    try:
        _wait_for_stream_time(proc, tmp_path / "rec.partial.jsonl", 0.5)
        second = subprocess.run(
            [sys.executable, "-m", "streamer", "run", str(tmp_path / "rec.yaml"), "--quiet"]
            + ["--max-frames", "5", "--set", f"ev.path={tmp_path}/other.jsonl"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.poll() is None  # the first run goes on
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    graph = tmp_path / "rec.yaml"
    assert len(lines) == 1 and lines[0].startswith(f"error: {graph}:10: stage 'out' (encode): key 'path': ")
    assert f"rec.mp4 is being written by process {proc.pid}" in lines[0]
    assert not (tmp_path / "other.jsonl").exists() and not (tmp_path / "other.partial.jsonl").exists()


@pytest.mark.timeout(120)
def test_sigint_leaves_the_complete_file_under_the_final_name(tmp_path: Path) -> None:
    proc = _start_recording(tmp_path)
    try:
        _wait_for_stream_time(proc, tmp_path / "rec.partial.jsonl", 1.0)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "rec.jsonl", "rec.mp4", "rec.yaml"]
    stages = {s["stage"]: s for s in json.loads((tmp_path / "m.json").read_text())["stages"]}
    assert len(_decoded_times(tmp_path / "rec.mp4")) == stages["out"]["frames_in"] >= 30
    assert len(_event_times(tmp_path / "rec.jsonl")) == stages["ev"]["frames_in"]
