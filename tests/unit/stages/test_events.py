from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.errors import SinkError
from streamer.frame import Face
from streamer.stages.base import STAGES, RunContext
from streamer.stages.events import Events
from tests.unit.stages.conftest import make_frame

KEYS = {"frame", "pts", "time", "faces"}
FACE_KEYS = {"box", "score", "identity", "distance", "fake", "fake_reason"}


def _faces() -> tuple[Face, ...]:
    return (
        Face(box=(10.123, 20.0, 50.5, 70.25), score=0.93456, identity="alice", distance=0.31, fake=0.02),
        Face(box=(60, 5, 90, 40), score=0.5),  # detection only: the rest is null
    )


def _run(path: str, frames: list) -> Events:
    stage = Events("events", Events.Params(path=path), RunContext())
    stage.open()
    for f in frames:
        assert stage.process(f) is None
    stage.close()
    return stage


def test_registered() -> None:
    assert STAGES["events"] is Events


def test_lines_follow_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "events.jsonl"  # parents are created
    frames = [make_frame(i, faces=_faces() if i == 12 else ()) for i in range(14)]
    _run(str(path), frames)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 14
    assert path.read_text().endswith("\n")
    events = [json.loads(line) for line in lines]
    for i, ev in enumerate(events):
        assert set(ev) == KEYS
        assert ev["frame"] == i and ev["pts"] == i * 512
        assert ev["time"] == round(i / 30, 6)
        assert type(ev["pts"]) is int
    e12 = events[12]
    assert e12["frame"] == 12 and e12["pts"] == 6144 and e12["time"] == 0.4
    assert [set(f) for f in e12["faces"]] == [FACE_KEYS, FACE_KEYS]
    assert e12["faces"][0] == {
        "box": [10.12, 20.0, 50.5, 70.25],
        "score": 0.9346,
        "identity": "alice",
        "distance": 0.31,
        "fake": 0.02,
        "fake_reason": None,
    }
    assert e12["faces"][1] == {
        "box": [60.0, 5.0, 90.0, 40.0],
        "score": 0.5,
        "identity": None,
        "distance": None,
        "fake": None,
        "fake_reason": None,
    }
    assert events[0]["faces"] == []


def test_lines_are_written_live(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    stage = Events("events", Events.Params(path=str(path)), RunContext())
    stage.open()
    stage.process(make_frame(0))
    stage.process(make_frame(1))
    # a reader tailing the partial file sees whole lines before close; the final name only after
    assert not path.exists()
    lines = (tmp_path / "live.partial.jsonl").read_text().splitlines(keepends=True)
    assert [json.loads(ln)["frame"] for ln in lines] == [0, 1]
    assert all(ln.endswith("\n") for ln in lines)
    stage.close()
    stage.close()  # safe twice
    assert [json.loads(ln)["frame"] for ln in path.read_text().splitlines()] == [0, 1]
    assert not (tmp_path / "live.partial.jsonl").exists() and not (tmp_path / ".live.jsonl.lock").exists()


def test_truncates_unless_append(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"old": true}\n')
    _run(str(path), [make_frame(0)])
    assert [json.loads(ln)["frame"] for ln in path.read_text().splitlines()] == [0]
    stage = Events("events", Events.Params(path=str(path), append=True), RunContext())
    stage.open()
    stage.process(make_frame(1))
    stage.close()
    assert [json.loads(ln)["frame"] for ln in path.read_text().splitlines()] == [0, 1]


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    face = Face(box=(0, 0, 1, 1), score=0.9, distance=float("nan"), fake=float("inf"))
    _run(str(path), [make_frame(0, faces=[face])])
    ev = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert ev["faces"][0]["distance"] is None and ev["faces"][0]["fake"] is None


def test_dash_writes_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    stage = _run("-", [make_frame(2, faces=[(1, 2, 3, 4)])])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    ev = json.loads(out[0])
    assert ev["frame"] == 2 and ev["faces"][0]["box"] == [1.0, 2.0, 3.0, 4.0]
    stage.close()


def test_bad_path_is_one_line_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    stage = Events("events", Events.Params(path=str(blocker / "e.jsonl")), RunContext())
    with pytest.raises(SinkError) as info:
        stage.open()
    msg = str(info.value)
    assert "\n" not in msg and "events" in msg and str(blocker) in msg
    stage.close()  # closing a stage that never opened is fine


def test_path_is_required() -> None:
    with pytest.raises(ValidationError):
        Events.Params()  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Events.Params(path="x", file="y")  # type: ignore[call-arg]


def test_abstentions_write_null_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    face = Face(box=(0, 0, 20, 20), score=0.9, fake=None, fake_reason="small: face 20 px < min_face 40 px")
    _run(str(path), [make_frame(0, faces=[face])])
    ev = json.loads(path.read_text())["faces"][0]
    assert ev["fake"] is None and ev["fake_reason"] == "small: face 20 px < min_face 40 px"
