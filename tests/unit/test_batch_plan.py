"""``streamer batch`` before Ray: inputs, --out templates, refusals, the manifest (no Ray needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from streamer import cli
from streamer.batch_manifest import Manifest
from streamer.batch_plan import BatchError, expand_inputs, make_plan, output_for
from streamer.errors import GraphError

ROOT = Path(__file__).resolve().parents[2]
TRANSCODE = ROOT / "graphs" / "file_transcode.yaml"


def graph(tmp_path: Path, sinks: str) -> Path:
    p = tmp_path / "g.yaml"
    p.write_text(
        f"name: g\nmode: offline\nstages:\n  - name: cam\n    type: capture\n    uri: x.mp4\n{sinks}"
    )
    return p


@pytest.fixture
def vids(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "sub/c.mp4", "notes.txt"):
        (d / name).write_bytes(b"x")
    return d


def test_inputs_glob_list_and_errors(vids: Path, tmp_path: Path) -> None:
    assert [p.name for p in expand_inputs([f"{vids}/*.mp4"])] == ["a.mp4", "b.mp4"]
    assert [p.name for p in expand_inputs([f"{vids}/**/*.mp4"])] == ["a.mp4", "b.mp4", "c.mp4"]
    lst = vids / "list.txt"
    lst.write_text("# two files\na.mp4\n\nsub/c.mp4\na.mp4\n")
    assert [p.name for p in expand_inputs([f"@{lst}", str(vids / "a.mp4")])] == ["a.mp4", "c.mp4"]
    with pytest.raises(BatchError, match="no file matches"):
        expand_inputs([f"{vids}/*.mkv"])
    with pytest.raises(BatchError, match="is a folder"):
        expand_inputs([str(vids)])
    lst.write_text("a.mp4\nmissing.mp4\n")
    with pytest.raises(BatchError, match=r"list.txt:2: missing.mp4: no such file"):
        expand_inputs([f"@{lst}"])


def test_template_rule_each_sink_keeps_its_extension() -> None:
    src = Path("/v/day1/clip.mov")
    assert output_for("out/{stem}", "out/x.mp4", False, src, exact=False) == "out/clip.mp4"
    assert output_for("out/{stem}.mp4", "out/x.mp4", False, src, exact=False) == "out/clip.mp4"
    assert output_for("out/{parent}/{name}", "x.jsonl", False, src, exact=False) == "out/day1/clip.mov.jsonl"
    assert output_for("out/{stem}", "frames/", True, src, exact=False) == "out/clip"
    assert output_for("r/{stem}.mkv", "out/x.mp4", False, src, exact=True) == "r/clip.mkv"


def test_plan_every_file_sink_and_overrides(vids: Path, tmp_path: Path) -> None:
    g = graph(
        tmp_path,
        "  - name: out\n    type: encode\n    path: o/x.mp4\n"
        "  - name: ev\n    type: events\n    input: cam\n    path: o/x.jsonl\n"
        "  - name: fr\n    type: frames\n    input: cam\n    dir: o/frames\n",
    )
    plan = make_plan(
        g, [f"{vids}/*.mp4"], [f"{tmp_path}/res/{{stem}}", "fr=" + f"{tmp_path}/res/{{stem}}_png"]
    )
    assert plan.source == "cam" and plan.sinks == ["out", "ev", "fr"]
    job = plan.jobs[0]
    assert [Path(o.path).name for o in job.outputs] == ["a.mp4", "a.jsonl", "a_png"]
    assert job.overrides[0] == f'cam.uri="{vids / "a.mp4"}"'
    assert f'ev.path="{tmp_path}/res/a.jsonl"' in job.overrides
    assert plan.manifest == tmp_path / "res" / ".streamer-batch.g.json"
    assert plan.jobs[0].config != plan.jobs[1].config


def test_refused_before_anything_runs(vids: Path, tmp_path: Path) -> None:
    two_mp4 = graph(
        tmp_path,
        "  - name: a\n    type: encode\n    path: o/a.mp4\n  - name: b\n    type: encode\n    input: cam\n    path: o/b.mp4\n",
    )
    with pytest.raises(BatchError, match=r"output of both stages 'a' and 'b'.*--out b=TEMPLATE"):
        make_plan(two_mp4, [f"{vids}/a.mp4"], [f"{tmp_path}/o/{{stem}}"])
    # two inputs, one output: a.mp4 and sub/a.mp4 with {stem}
    (vids / "sub" / "a.mp4").write_bytes(b"x")
    with pytest.raises(BatchError, match=r"is the output of both .*a.mp4 and .*sub/a.mp4.*\{parent\}"):
        make_plan(TRANSCODE, [f"{vids}/**/a.mp4"], [f"{tmp_path}/o/{{stem}}"])
    # an output that is an input of the batch (b's output is the input a.mp4)
    with pytest.raises(BatchError, match="is an input of this batch"):
        make_plan(TRANSCODE, [f"{vids}/*.mp4"], [f"{vids}/a"])
    # an output that is the job's own input (through the graph's own check)
    with pytest.raises((BatchError, GraphError), match="input"):
        make_plan(TRANSCODE, [f"{vids}/a.mp4"], [f"{vids}/{{stem}}"])
    with pytest.raises(BatchError, match=r"unknown placeholder \{ext\}"):
        make_plan(TRANSCODE, [f"{vids}/a.mp4"], ["o/{ext}"])
    with pytest.raises(BatchError, match="no file sink named 'nope'"):
        make_plan(TRANSCODE, [f"{vids}/a.mp4"], ["nope=o/{stem}.mp4"])
    display = graph(tmp_path, "  - name: win\n    type: display\n")
    with pytest.raises(BatchError, match="writes no file"):
        make_plan(display, [f"{vids}/a.mp4"], ["o/{stem}"])


def test_manifest_complete_only_while_outputs_and_input_are_unchanged(vids: Path, tmp_path: Path) -> None:
    plan = make_plan(TRANSCODE, [f"{vids}/*.mp4"], [f"{tmp_path}/o/{{stem}}"])
    job = plan.jobs[0]
    out = Path(job.outputs[0].path)
    out.parent.mkdir(parents=True)
    out.write_bytes(b"video")
    m = Manifest(plan.manifest, plan.graph)
    m.lock()
    m.record(job, {"status": "ok", "frames": 3, "seconds": 0.1})
    m.unlock()
    again = Manifest(plan.manifest, plan.graph)
    again.load()
    assert again.complete(job) and not again.complete(plan.jobs[1])
    doc = json.loads(plan.manifest.read_text())
    assert doc["version"] == 1 and doc["files"][job.input]["frames"] == 3
    assert not list(plan.manifest.parent.glob("*.partial"))  # written atomically, nothing left
    out.write_bytes(b"other video")  # replaced since
    assert not again.complete(job)
    out.unlink()
    assert not again.complete(job)
    # the same job with another --set is another config: not complete
    other = make_plan(TRANSCODE, [f"{vids}/*.mp4"], [f"{tmp_path}/o/{{stem}}"], ["out.crf=30"]).jobs[0]
    assert other.config != job.config
    # a second batch on the same manifest is refused while the first holds it
    m.lock()
    try:
        with pytest.raises(Exception, match="being written"):
            Manifest(plan.manifest, plan.graph).lock()
    finally:
        m.unlock()
    plan.manifest.write_text("{not json")
    with pytest.raises(BatchError, match="unreadable manifest"):
        Manifest(plan.manifest, plan.graph).load()


def test_cli_batch_without_ray_is_one_line(
    monkeypatch: pytest.MonkeyPatch, vids: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = cli.main(["batch", str(TRANSCODE), "--inputs", f"{vids}/*.mp4", "--out", "o/{stem}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == [
        "error: streamer batch needs Ray: pip install 'streamer[cluster]' (or pip install 'ray[client]')"
    ]


def test_cli_batch_refusal_is_one_line(vids: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    code = cli.main(["batch", str(TRANSCODE), "--inputs", f"{vids}/*.mkv", "--out", "o/{stem}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "no file matches" in err[0]


def test_report_table_json_and_exit_status() -> None:
    import io

    from streamer.batch import BatchReport, _Display

    ok = {
        "input": "/v/a.mp4",
        "status": "ok",
        "frames": 100,
        "seconds": 2.0,
        "fps": 50.0,
        "attempts": 1,
        "error": None,
    }
    bad = {"input": "/v/b.mp4", "status": "failed", "frames": 0, "seconds": 0.1, "fps": None, "attempts": 2,
           "error": "g.yaml:7: stage 'cam' (capture): cannot read /v/b.mp4 as video"}  # fmt: skip
    skipped = ok | {"input": "/v/c.mp4", "status": "skipped", "attempts": 0}
    report = BatchReport("g.yaml", [ok, bad, skipped], wall=4.0)
    text = report.table()
    assert "failed: /v/b.mp4: g.yaml:7: stage 'cam'" in text
    assert "3 files: 1 ok, 1 failed, 1 skipped; 100 frames in 4.00 s wall (25.0 frames/s)" in text
    doc = report.to_json()
    assert (doc["ok"], doc["failed"], doc["skipped"], doc["frames"], doc["fps"]) == (1, 1, 1, 100, 25.0)
    assert report.exit_code == 1
    assert BatchReport("g.yaml", [ok, skipped], wall=1.0).exit_code == 0
    assert BatchReport("g.yaml", [ok], wall=1.0, cancelled=True).exit_code == 130
    d = _Display(10, 2, stream=io.StringIO())
    d.start -= 10.0  # 10 s in, 4 files run (2 more were skipped): 4 files left at 2.5 s each
    line = d.status(6, 1, 2, 500)
    assert line.startswith("6/10 files (1 failed), 2 running, 500 frames, 50.0 frames/s, ETA 0:1")
