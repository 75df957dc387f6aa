"""``streamer batch`` (local Ray) against a shell loop of ``streamer run``, on eight clips.

The eight clips are the four samples (``samples/*.mp4``: 640x360 and 1280x720 H.264, two with
AAC audio) under two names each. For each graph the same files go through:

- ``loop``: ``for f in clips/*.mp4; do streamer run G --set cam.uri=$f --set out.path=...; done``
  (a fresh process per file: Python start, imports, model sessions, one file at a time);
- ``batch``: ``streamer batch G --inputs 'clips/*.mp4' --out 'out/{stem}'`` on a local Ray with
  ``--num-cpus`` cores, one CPU per job (two files at a time on two cores);
- ``batch, 1 job at a time``: the same with ``--cpus-per-job`` = every core (no overlap: what
  the worker-process reuse alone buys).

Wall time is measured around the whole command (Ray's start and stop included); frames/s is the
clips' frames over that wall time. Prints a Markdown table and writes
``benchmarks/results/bench_batch.json``. Never asserts timings.

    python benchmarks/bench_batch.py [--graphs transcode cartoon] [--cpus 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from streamer.bench import cpu_model

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = {
    "transcode": (ROOT / "graphs" / "file_transcode.yaml", []),
    # the whole picture through an ONNX model (translate at 128 px): model sessions matter here
    "cartoon": (ROOT / "graphs" / "file_cartoon.yaml", ["style.size=128"]),
}


def make_clips(folder: Path) -> dict[str, int]:
    """Eight files: each sample twice. Returns {name: video frames}."""
    folder.mkdir(parents=True, exist_ok=True)
    frames: dict[str, int] = {}
    for src in sorted((ROOT / "samples").glob("*.mp4")):
        for copy in ("a", "b"):
            dst = folder / f"{src.stem}_{copy}.mp4"
            shutil.copyfile(src, dst)
            with av.open(str(dst)) as c:
                frames[dst.name] = sum(1 for _ in c.decode(video=0))
    return frames


def timed(cmd: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.perf_counter()
    r = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {cmd}\n{r.stderr[-2000:]}")
    return wall, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", nargs="+", choices=sorted(GRAPHS), default=["transcode", "cartoon"])
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="cores of the local Ray instance")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_batch.json")
    args = ap.parse_args()
    py = shlex.quote(sys.executable)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = work / "clips"
        frames = make_clips(clips)
        total = sum(frames.values())
        for name in args.graphs:
            graph, sets = GRAPHS[name]
            set_args = " ".join(f"--set {shlex.quote(s)}" for s in sets)
            loop = (
                f'for f in {clips}/*.mp4; do {py} -m streamer run {graph} {set_args} --set cam.uri="$f"'
                f' --set out.path="{work}/loop_{name}/$(basename "$f")" -q 2>/dev/null || exit 1; done'
            )
            variants = [("loop of streamer run", loop, None)]
            for label, per_job in (("streamer batch", 1), ("streamer batch, 1 job at a time", args.cpus)):
                report = work / f"{name}_{per_job}.json"
                cmd = (
                    f"{py} -m streamer batch {graph} {set_args} --inputs '{clips}/*.mp4'"
                    f" --out '{work}/batch_{name}_{per_job}/{{stem}}' --num-cpus {args.cpus}"
                    f" --cpus-per-job {per_job} -q --json {report}"
                )
                variants.append((label, cmd, report))
            for label, cmd, report in variants:
                load = os.getloadavg()[0]
                wall, _ = timed(cmd, ROOT)
                row = {
                    "graph": name,
                    "how": label,
                    "files": len(frames),
                    "frames": total,
                    "wall_s": round(wall, 2),
                    "fps": round(total / wall, 1),
                    "load_before": round(load, 2),
                }
                if report is None and name != "transcode":
                    row["model_loads"] = len(frames)  # a process per file, each loads the model
                if report is not None:
                    doc = json.loads(report.read_text())
                    assert doc["ok"] == len(frames) and doc["frames"] == total, doc
                    row["batch_wall_s"] = doc["wall_s"]  # from the first task submitted to the last result
                    row["model_loads"] = sum(f.get("model_loads") or 0 for f in doc["files"])
                    row["workers"] = len({f["worker"] for f in doc["files"]})
                rows.append(row)
                print(f"{name}: {label}: {wall:.1f} s", file=sys.stderr)
    base = {r["graph"]: r["wall_s"] for r in rows if r["how"].startswith("loop")}
    print(
        f"\n{len(frames)} clips, {total} frames; {cpu_model()}, {os.cpu_count()} cores; Ray with {args.cpus} CPUs\n"
    )
    print("| graph | how | wall s | frames/s | vs loop | model loads | worker processes |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        speed = base[r["graph"]] / r["wall_s"]
        loads = r.get("model_loads", "-") if r["graph"] != "transcode" else "-"
        print(
            f"| {r['graph']} | {r['how']} | {r['wall_s']:.1f} | {r['fps']:.1f} | {speed:.2f}x"
            f" | {loads} | {r.get('workers', '-')} |"
        )
    out = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ray_cpus": args.cpus,
        "python": platform.python_version(),
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
