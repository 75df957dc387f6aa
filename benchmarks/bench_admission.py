"""Live admission: the work spent on frames that are dropped later, before and after.

``python benchmarks/bench_admission.py [--repeat 3] [--before-ref REF | --before-tree PATH]
[--limits 2 1] [--json benchmarks/results/admission.json]``

The graph is ``graphs/file_cartoon.yaml`` (capture → translate with ``models/cartoon.onnx`` on the
whole frame → encode, audio copied) with a ``face_detect`` stage inserted before translate, run
with ``--realtime`` (live mode, the file paced at its own 30 frames/s) on its own clip
``samples/face_audio.mp4`` (150 frames, 640x360). Translate manages about 5 frames/s on 2 CPU
cores, so most frames must be dropped; the question is where. Before (``--before-ref``, default
the merge-base of HEAD and ``main``, extracted with ``git archive``) live queues drop in the
middle, at translate's queue, after face_detect has worked on every frame. After, the source
admits a frame only while fewer than ``max_in_flight`` frames are inside the graph, so face_detect
works only on frames that are written.

Each variant runs ``python -m streamer run G --realtime --quiet --json J`` in its own source
tree, ``--repeat`` times, interleaved; the table shows medians: frames face_detect processed,
frames translate processed, frames written, drops at the entrance and in the middle, the
face_detect frames wasted (processed, never written), wall and CPU seconds. Prints a Markdown
table and writes JSON with the machine (CPU model, cores, load average). Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from streamer.bench import cpu_model

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "file_cartoon.yaml"
CLIP = ROOT / "samples" / "face_audio.mp4"


def make_graph(tmp: Path, out: Path) -> Path:
    """file_cartoon.yaml with face_detect before translate, absolute paths, output in ``tmp``."""
    doc = yaml.safe_load(GRAPH.read_text())
    stages = doc["stages"]
    for s in stages:
        if s["type"] == "capture":
            s["uri"] = str(CLIP)
        elif s["type"] == "translate":
            s["model"] = str(ROOT / s["model"])
        elif s["type"] == "encode":
            s["path"] = str(out)
    at = next(i for i, s in enumerate(stages) if s["type"] == "translate")
    stages.insert(at, {"name": "faces", "type": "face_detect"})
    doc["name"] = "admission_bench"
    path = tmp / "admission.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def extract(ref: str, dest: Path) -> Path:
    """The tree of ``ref`` (``git archive``: no worktree, no checkout of anyone's branch)."""
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


def run_once(tree: Path, graph: Path, sets: list[str], tmp: Path) -> dict[str, Any]:
    js = tmp / "run.json"
    cmd = [sys.executable, "-m", "streamer", "run", str(graph), "--realtime", "--quiet", "--json", str(js)]
    for s in sets:
        cmd += ["--set", s]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} (in {tree}) failed:\n{proc.stderr.strip()}")
    data = json.loads(js.read_text())
    st = {s["stage"]: s for s in data["stages"]}
    cam, faces, style, out = st["cam"], st["faces"], st["style"], st["out"]
    mid = sum(s["drops"] for name, s in st.items() if name != "cam")
    return {
        "face_detect_frames": faces["frames_in"],
        "translate_frames": style["frames_in"],
        "translate_p50_ms": style["latency_p50_ms"],
        "written": out["frames_in"],
        "entrance_drops": cam["drops"],
        "mid_graph_drops": mid,
        "wasted_face_detect": faces["frames_in"] - out["frames_in"],
        "graph_wall_s": data["wall_s"],
        "cpu_s": data["cpu_s"],
        "process_wall_s": round(wall, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before-ref", default=None, help="git ref of 'before' (default: merge-base HEAD main)")
    ap.add_argument("--before-tree", type=Path, default=None, help="an extracted 'before' tree instead")
    ap.add_argument("--limits", type=int, nargs="+", default=[2, 1], help="max_in_flight values for 'after'")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "admission.json")
    args = ap.parse_args(argv)

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_admission_") as t:
        tmp = Path(t)
        graph = make_graph(tmp, tmp / "out.mp4")
        before_ref = args.before_ref
        if args.before_tree is not None:
            before = args.before_tree
        else:
            if before_ref is None:
                before_ref = subprocess.run(
                    ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
            before = extract(before_ref, tmp / "before")
        variants: list[tuple[str, Path, list[str]]] = [("before (drops mid-graph)", before, [])]
        variants += [(f"after, max_in_flight {n}", ROOT, [f"max_in_flight={n}"]) for n in args.limits]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
        for i in range(args.repeat):  # interleaved, so a load change hits every variant alike
            for name, tree, sets in variants:
                r = run_once(tree, graph, sets, tmp)
                runs[name].append(r)
                print(f"run {i + 1}/{args.repeat} {name}: {r}", file=sys.stderr, flush=True)
    load_end = os.getloadavg()

    keys = list(next(iter(runs.values()))[0])
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    header = (
        "| variant | face_detect frames | translate frames | written | dropped at entrance"
        " | dropped mid-graph | face_detect wasted | translate ms/frame (p50) | wall s | CPU s |"
    )
    lines = [header, "|---|" + "---:|" * 9]
    for name, m in medians.items():
        lines.append(
            f"| {name} | {m['face_detect_frames']:g} | {m['translate_frames']:g} | {m['written']:g}"
            f" | {m['entrance_drops']:g} | {m['mid_graph_drops']:g} | {m['wasted_face_detect']:g}"
            f" | {m['translate_p50_ms']:.0f} | {m['graph_wall_s']:.2f} | {m['cpu_s']:.2f} |"
        )
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    print(f"\n{machine}; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end;")
    print(f"medians of {args.repeat} runs, {CLIP.name} (150 frames at 30 fps) with --realtime\n")
    print("\n".join(lines))

    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": "python benchmarks/bench_admission.py " + " ".join(argv or sys.argv[1:]),
        "graph": "graphs/file_cartoon.yaml + face_detect before translate, --realtime (live)",
        "clip": str(CLIP.relative_to(ROOT)),
        "before": before_ref or str(args.before_tree),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "load_average": {"start": load_start[0], "end": load_end[0]},
        "repeat": args.repeat,
        "median": medians,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
