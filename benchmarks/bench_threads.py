"""The thread budget (streamer/threads.py) on and off, interleaved, on one graph.

    python benchmarks/bench_threads.py [--graph graphs/file_stylize.yaml] [--repeat 5]

Each run is a fresh `streamer run` process (startup included) with the budget on (default) or
off (`STREAMER_CORES=off`: every ONNX Runtime session and codec takes its library's default of
one thread per core), alternating on/off so load from elsewhere hits both alike. Prints a table
of medians (wall frames/s and CPU ms per frame, from the run's own --json) and writes
benchmarks/results/threads.json. Never asserts anything about timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from streamer.bench import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def one_run(graph: Path, budget: bool, tmp: Path) -> dict[str, float]:
    env = dict(os.environ)
    if not budget:
        env["STREAMER_CORES"] = "off"
    out_json = tmp / "run.json"
    cmd = [sys.executable, "-m", "streamer", "run", str(graph), "--quiet", "--json", str(out_json)]
    cmd += ["--set", f"out.path={tmp / 'out.mp4'}"]
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT, timeout=600)
    result = json.loads(out_json.read_text())
    frames = max(s["frames_out"] for s in result["stages"] if s["type"] == "capture")
    return {
        "fps": frames / result["wall_s"],
        "cpu_ms_per_frame": 1000 * result["cpu_s"] / frames,
        "frames": frames,
        "threads": result.get("threads", {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", type=Path, default=ROOT / "graphs" / "file_stylize.yaml")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "threads.json")
    args = ap.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"budget": [], "no budget": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            for label in ("budget", "no budget") if i % 2 == 0 else ("no budget", "budget"):
                runs[label].append(one_run(args.graph, label == "budget", Path(d)))
                print(f"run {i + 1}/{args.repeat} {label}: {runs[label][-1]['fps']:.1f} fps", file=sys.stderr)
    rows = {
        label: {
            "fps_median": statistics.median(r["fps"] for r in rs),
            "cpu_ms_per_frame_median": statistics.median(r["cpu_ms_per_frame"] for r in rs),
            "threads": rs[-1]["threads"],
        }
        for label, rs in runs.items()
    }
    ratio = rows["budget"]["fps_median"] / rows["no budget"]["fps_median"]
    cpu_ratio = rows["no budget"]["cpu_ms_per_frame_median"] / rows["budget"]["cpu_ms_per_frame_median"]
    print(f"\n{args.graph.name}, {args.repeat} runs each, interleaved; {cpu_model()}, {os.cpu_count()} cores")
    print(f"{'':10} {'frames/s':>9} {'CPU ms/frame':>13}  threads")
    for label, row in rows.items():
        threads = ", ".join(f"{k} {v}" for k, v in row["threads"].items()) or "library defaults"
        print(f"{label:10} {row['fps_median']:9.1f} {row['cpu_ms_per_frame_median']:13.1f}  {threads}")
    print(f"budget / no budget: {ratio:.2f}x frames/s, {cpu_ratio:.2f}x less CPU per frame")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "graph": str(args.graph.relative_to(ROOT)),
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "repeat": args.repeat,
                "runs": runs,
                "medians": rows,
                "fps_ratio": ratio,
                "cpu_ratio": cpu_ratio,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
