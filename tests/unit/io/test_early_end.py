"""Inputs that end early or are damaged: a warning naming the file and both counts (summary,
``--json``), an error exit with ``--strict``; damaged packets skipped and counted, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from streamer.cli import main
from streamer.graph import load_graph
from streamer.runner import RunOptions, RunResult, run_graph
from tests.real_footage import clip
from tests.unit.io.media import cut, damaged, faststart_mp4, ffmpeg, wrapping_ts

ROOT = Path(__file__).resolve().parents[3]
GRAPH = ROOT / "graphs" / "file_transcode.yaml"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("early_end")


@pytest.fixture(scope="module")
def complete(media: Path) -> Path:
    return faststart_mp4(clip("carphone"), media / "complete.mp4")


@pytest.fixture(scope="module")
def truncated(media: Path, complete: Path) -> Path:
    """The index (at the front) promises every frame; the data stops at 30 %."""
    return cut(complete, media / "truncated.mp4", 0.3)


def decoded(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def run(src: Path, out: Path) -> RunResult:
    spec = load_graph(GRAPH, [f"cam.uri={src}", f"out.path={out}"])
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False, log=lambda m: None))
    assert result.error is None, result.error
    return result


def test_complete_file_has_no_warning(complete: Path, tmp_path: Path) -> None:
    result = run(complete, tmp_path / "out.mp4")
    assert result.warnings == [] and "frames_missing" not in result.stage("cam").counters
    assert result.stage("out").frames_in == decoded(complete) == 120


def test_truncated_mp4_warns_with_both_counts(truncated: Path, tmp_path: Path) -> None:
    with av.open(str(truncated)) as c:
        assert c.streams.video[0].frames == 120  # what the index promises
    result = run(truncated, tmp_path / "out.mp4")
    got = result.stage("out").frames_in
    assert 0 < got < 120
    assert result.warnings == [f"{truncated}: the container promises 120 frames, {got} decoded (truncated?)"]
    counters = result.stage("cam").counters
    assert counters["frames_promised"] == 120 and counters["frames_missing"] == 120 - got
    assert result.table().splitlines()[-1] == f"warning: {result.warnings[0]}"
    assert result.to_json()["warnings"] == result.warnings
    assert decoded(tmp_path / "out.mp4") == got  # what could be read was written


def test_cli_warns_and_strict_makes_it_an_error(
    truncated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(GRAPH), "--set", f"cam.uri={truncated}", "--set", f"out.path={tmp_path}/o.mp4", "-q"]
    assert main([*args, "--json", str(tmp_path / "run.json")]) == 0
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "promises 120 frames" in warning[0] and str(truncated) in warning[0]
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["warnings"] == [warning[0].removeprefix("warning: ")]
    cam = next(s for s in saved["stages"] if s["stage"] == "cam")
    assert cam["frames_promised"] == 120 and cam["frames_missing"] > 0

    assert main([*args, "--strict"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {warning[0].removeprefix('warning: ')} (--strict)"]
    assert "Traceback" not in err


def test_strict_passes_a_complete_file(complete: Path, tmp_path: Path) -> None:
    args = ["run", str(GRAPH), "--set", f"cam.uri={complete}", "--set", f"out.path={tmp_path}/o.mp4"]
    assert main([*args, "-q", "--strict"]) == 0


def test_clip_trimmed_by_an_edit_list_is_not_truncated(complete: Path, media: Path, tmp_path: Path) -> None:
    """A stream copy cut mid-GOP: the index holds the pre-roll frames the edit list hides."""
    src = media / "trimmed.mp4"
    ffmpeg("-ss", "1.5", "-i", complete, "-t", "1", "-c", "copy", src)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames > decoded(src)  # the case itself
    result = run(src, tmp_path / "out.mp4")
    assert result.warnings == [] and "frames_missing" not in result.stage("cam").counters
    assert result.stage("out").frames_in == decoded(src)


def test_cut_before_the_index_is_one_line_error(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MP4 whose index is at the end, cut in the data: nothing says what it holds."""
    plain = media / "index_at_end.mp4"
    ffmpeg("-i", clip("carphone"), "-c", "copy", plain)
    src = cut(plain, media / "index_lost.mp4", 0.5)
    args = ["run", str(GRAPH), "--set", f"cam.uri={src}", "--set", f"out.path={tmp_path}/o.mp4", "-q"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: ")
        and f"stage 'cam' (capture): key 'uri': cannot read {src} as video" in err[0]
    )


def test_garbage_in_mpegts_is_skipped_and_counted(media: Path, tmp_path: Path) -> None:
    src = damaged(wrapping_ts(clip("carphone"), media / "whole.ts"), media / "damaged.ts", size=20000)
    result = run(src, tmp_path / "out.mp4")
    counters = result.stage("cam").counters
    assert counters.get("corrupt_packets", 0) + counters.get("decode_errors", 0) > 0
    written = decoded(tmp_path / "out.mp4")
    assert written == result.stage("out").frames_in > 60  # the run went on past the damage
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.audio and c.streams.audio[0].frames > 0


def test_garbage_in_mp4_data_is_skipped_and_counted(complete: Path, media: Path, tmp_path: Path) -> None:
    src = damaged(complete, media / "damaged.mp4", at=0.5, size=3000)
    result = run(src, tmp_path / "out.mp4")
    counters = result.stage("cam").counters
    got = result.stage("out").frames_in
    assert counters.get("decode_errors", 0) + counters.get("corrupt_packets", 0) > 0
    assert 100 < got < 120  # only the damaged frames are lost
    # the index promised 120: the shortfall is reported
    assert counters["frames_missing"] == 120 - got and len(result.warnings) == 1
