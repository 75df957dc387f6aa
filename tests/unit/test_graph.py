"""Graph loading and validation: every error is one line naming file, stage, key, expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import tests.unit.fake_stages  # noqa: F401 - registers t_* stages
from streamer.errors import GraphError
from streamer.graph import load_graph, parse_override


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


GOOD = """\
    name: demo
    stages:
      - name: src
        type: t_source
        frames: 5
      - name: work
        type: t_slow
        seconds: 0.0
      - name: out
        type: t_collect
      - name: side
        type: t_collect
        input: work
    """


def test_good_graph_orders_and_fans_out(tmp_path: Path) -> None:
    spec = load_graph(write(tmp_path, GOOD))
    assert spec.name == "demo"
    assert spec.mode == "offline"
    assert [s.name for s in spec.stages] == ["src", "work", "out", "side"]
    assert spec.stage("out").input == "work"
    assert spec.stage("side").input == "work"
    assert spec.consumers["work"] == ("out", "side")
    assert spec.stage("src").params.frames == 5


def test_default_mode_is_live_for_live_sources(tmp_path: Path) -> None:
    spec = load_graph(write(tmp_path, GOOD), ["src.live=true"])
    assert spec.mode == "live"
    assert load_graph(write(tmp_path, GOOD), ["src.live=true", "mode=offline"]).mode == "offline"


def test_overrides_are_typed_by_yaml(tmp_path: Path) -> None:
    spec = load_graph(write(tmp_path, GOOD), ["src.frames=42", "work.seconds=0.5", "work.fail_at=3"])
    assert spec.stage("src").params.frames == 42
    assert spec.stage("work").params.seconds == 0.5
    assert spec.stage("work").params.fail_at == 3


def error_of(tmp_path: Path, text: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(GraphError) as info:
        load_graph(write(tmp_path, text), overrides or [])
    msg = str(info.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_unknown_stage_type(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("type: t_slow", "type: t_slwo"))
    assert "g.yaml:6" in msg and "stage 'work'" in msg and "'type'" in msg
    assert "unknown stage type 't_slwo'" in msg and "expected one of" in msg and "t_slow" in msg


def test_unknown_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("seconds: 0.0", "secnds: 0.0"))
    assert "g.yaml:6: stage 'work' (t_slow): key 'secnds': unknown key" in msg
    assert "seconds" in msg  # the keys it does take


def test_mistyped_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("frames: 5", "frames: many"))
    assert "stage 'src' (t_source): key 'frames'" in msg
    assert "expected a valid integer" in msg and "'many'" in msg


def test_mistyped_override(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD, ["src.frames=lots"])
    assert "stage 'src'" in msg and "key 'frames'" in msg and "'lots'" in msg


def test_override_unknown_stage_and_key(tmp_path: Path) -> None:
    assert "no stage named 'nope'" in error_of(tmp_path, GOOD, ["nope.x=1"])
    assert "key 'colour': unknown key" in error_of(tmp_path, GOOD, ["work.colour=1"])
    with pytest.raises(GraphError, match="expected STAGE.KEY=VALUE"):
        parse_override("work.seconds")


def test_missing_input(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("input: work", "input: wrok"))
    assert "stage 'side' (t_collect): key 'input': no stage named 'wrok'" in msg
    assert "expected one of: src, work, out, side" in msg


def test_first_stage_needs_input(tmp_path: Path) -> None:
    text = """\
        stages:
          - name: work
            type: t_slow
        """
    msg = error_of(tmp_path, text)
    assert "stage 'work' (t_slow): key 'input': no stage above it" in msg


def test_duplicate_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("name: side", "name: out"))
    assert "stage 'out': key 'name': duplicate name" in msg


def test_cycle(tmp_path: Path) -> None:
    text = """\
        stages:
          - name: src
            type: t_source
          - name: a
            type: t_slow
            input: c
          - name: b
            type: t_slow
            input: a
          - name: c
            type: t_slow
            input: b
        """
    msg = error_of(tmp_path, text)
    assert "cycle" in msg and "key 'input'" in msg
    for name in ("a", "b", "c"):
        assert f"'{name}'" in msg or f" {name} " in msg or f"{name} ->" in msg


def test_input_from_sink_is_rejected(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("input: work", "input: out"))
    assert "stage 'out' is a sink" in msg


def test_source_with_input_and_top_level_errors(tmp_path: Path) -> None:
    assert "a source takes no input" in error_of(tmp_path, GOOD.replace("frames: 5", "input: work"))
    assert "top-level key 'stagse'" in error_of(tmp_path, "stagse: []\n")
    assert "key 'mode': expected live or offline" in error_of(tmp_path, "    mode: fast\n" + GOOD)
    assert "not valid YAML" in error_of(tmp_path, "stages: [\n")
    assert "expected a non-empty list" in error_of(tmp_path, "name: x\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="no such graph file"):
        load_graph(tmp_path / "absent.yaml")


def test_yaml_null_type_is_the_null_sink(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source}
          - {name: out, type: null}
        """
    assert load_graph(write(tmp_path, text)).stage("out").type == "null"
