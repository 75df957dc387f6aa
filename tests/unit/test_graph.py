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


# -- hostile and broken files: one line, fast, bounded memory (issue 11 item 7) ------------------


def _billion_laughs() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    letters = "abcdefghi"
    for prev, cur in zip(letters, letters[1:], strict=False):
        text += f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text + "stages: *i\n"  # 9**9 = 387 million strings once expanded


def test_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    import time
    import tracemalloc

    path = tmp_path / "bomb.yaml"
    path.write_text(_billion_laughs())
    assert path.stat().st_size < 1000
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(GraphError) as info:
            load_graph(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{path}:") and "aliases expand to more than" in message
    assert "\n" not in message
    assert elapsed < 1.0 and peak < 100e6, (elapsed, peak)


def test_small_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = """\
        stages:
          - {name: src, type: t_source, frames: 3}
          - &slow {name: a, type: t_slow, seconds: 0.0}
          - {<<: *slow, name: b}
          - {name: out, type: t_collect}
        """
    spec = load_graph(write(tmp_path, text))
    assert [s.name for s in spec.stages] == ["src", "a", "b", "out"]
    assert spec.stage("b").type == "t_slow" and spec.stage("b").input == "a"


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"g\.yaml:1: a recursive alias"):
        load_graph(write(tmp_path, "stages: &s [*s]\n"))


def test_non_utf8_bytes_name_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: x\n# caf\xe9 au lait\nstages: []\n")
    with pytest.raises(GraphError) as info:
        load_graph(path)
    assert str(info.value) == f"{path}:2: byte 0xe9 at column 6 is not UTF-8; expected a UTF-8 text file"


def test_binary_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: x\nstages:\n  - name: a\x00b\n")
    with pytest.raises(GraphError) as info:
        load_graph(path)
    assert (
        str(info.value) == f"{path}:3: control character U+0000 is not allowed in YAML; expected a text file"
    )
    # a real binary (a PNG's header) is refused the same way, by its first undecodable byte
    png = tmp_path / "picture.yaml"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(GraphError, match=r"picture\.yaml:1: byte 0x89 at column 1 is not UTF-8"):
        load_graph(png)


def test_oversized_graph_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * 200_000)  # 2 MB
    with pytest.raises(GraphError, match=r"huge\.yaml: 2\.0 MB; expected a graph file of at most 1 MB"):
        load_graph(path)


def test_utf8_bom_and_non_ascii_text_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent(GOOD).replace("demo", "d\u00e9mo").encode())
    assert load_graph(path).name == "d\u00e9mo"


def test_duplicate_key_names_file_and_line(tmp_path: Path) -> None:
    text = "stages:\n  - name: a\n    name: b\n"
    with pytest.raises(GraphError, match=r"g\.yaml:3: key 'name' appears twice"):
        load_graph(write(tmp_path, text))
