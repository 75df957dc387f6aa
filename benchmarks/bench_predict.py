"""Frame prediction: quality of the filled frames, speed of `every: 2` + predict, and the live check.

``python benchmarks/bench_predict.py [--style models/cartoon.onnx] [--predictor models/predictor.onnx]
[--frames 60] [--speed-frames 90] [--no-live] [--json benchmarks/results/predict.json]``

1. Quality, on the held-out clip ``samples/two_people.mp4`` (never trained on): the style model
   on every frame is the ground truth. With ``every: 2`` the odd frames are filled by

   - the predictor (the ``predict`` stage, exactly as in a graph),
   - repeating the last stylized frame,
   - classical optical flow (OpenCV Farneback and DIS): the backward flow from raw frame ``t`` to
     raw frame ``t-2`` (the raw frames the stage has too), halved, warps stylized ``t-1``.

   A second table simulates live drops (only every third frame arrives stylized, the two in
   between never reach the stage): the predictor extrapolates from its state and the last two
   outputs, against repeating. PSNR over the filled frames only (mean, median).
2. Speed, offline on ``samples/face_audio.mp4`` through the runner (2 CPU threads for the style
   model): translate ``every: 1`` vs ``every: 2`` + predict, both encoding to a temp file.
3. Live (``--realtime``, 30 fps clip): translate alone (frames dropped, output frame rate), then
   with predict after it (output frame count against the source's).

Prints Markdown tables and writes JSON; never fails on timing. Timings on a shared machine vary;
the JSON records the load average at start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.frame import Frame  # noqa: E402
from streamer.graph import build_graph  # noqa: E402
from streamer.runner import RunOptions, run_graph  # noqa: E402
from streamer.stages.base import RunContext  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def read_clip(path: Path, count: int) -> list[Frame]:
    from streamer.stages.capture import Capture

    cap = Capture("cam", Capture.Params(uri=str(path), audio=False), RunContext(log=lambda _m: None))
    cap.open()
    frames: list[Frame] = []
    try:
        gen = cap.frames()
        for f in gen:
            frames.append(f)
            if len(frames) >= count:
                break
        gen.close()
    finally:
        cap.close()
    return frames


def stylize(frames: list[Frame], style: Path, size: int) -> tuple[list[Frame], float]:
    from streamer.stages.translate import Translate

    st = Translate(
        "style", Translate.Params(model=str(style), size=size, threads=2), RunContext(log=lambda _m: None)
    )
    st.open()
    t = time.perf_counter()
    out = [st.process(f) for f in frames]
    per = (time.perf_counter() - t) / len(frames)
    st.close()
    return out, per


def run_predict(frames: list[Frame], predictor: Path) -> tuple[dict[int, np.ndarray], float, dict[str, int]]:
    from streamer.stages.predict import Predict

    st = Predict("fill", Predict.Params(model=str(predictor), threads=2), RunContext(log=lambda _m: None))
    st.open()
    out: dict[int, np.ndarray] = {}
    t = time.perf_counter()
    for f in frames:
        for o in st.process(f):
            out[o.index] = o.image
    for o in st.flush():
        out[o.index] = o.image
    per = (time.perf_counter() - t) / max(1, len(out))
    counters = dict(st.counters)
    st.close()
    return out, per, counters


def flow_fill(raw_t: np.ndarray, raw_t2: np.ndarray, styl_t1: np.ndarray, method: str) -> np.ndarray:
    """Warp stylized t-1 by half the backward flow raw t -> raw t-2 (constant velocity)."""
    import cv2

    a = cv2.cvtColor(raw_t, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(raw_t2, cv2.COLOR_RGB2GRAY)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    h, w = a.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        styl_t1,
        xs + flow[..., 0] / 2,
        ys + flow[..., 1] / 2,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(values)), 2),
        "median": round(float(statistics.median(values)), 2),
        "frames": len(values),
    }


def quality(clip: Path, style: Path, predictor: Path, count: int, size: int) -> dict[str, Any]:
    raw = read_clip(clip, count)
    gt, style_s = stylize(raw, style, size)
    # every: 2 -> odd frames arrive raw with translated=False
    seq = [gt[i] if i % 2 == 0 else raw[i].replace(translated=False) for i in range(len(raw))]
    pred, pred_s, counters = run_predict(seq, predictor)
    odd = range(3, len(raw), 2)  # from the second odd frame on, every method has raw t-2
    rows: dict[str, list[float]] = {"predictor": [], "repeat last": [], "Farneback flow": [], "DIS flow": []}
    flow_s = {"farneback": 0.0, "dis": 0.0}
    for i in odd:
        truth = gt[i].image
        rows["predictor"].append(psnr(pred[i], truth))
        rows["repeat last"].append(psnr(gt[i - 1].image, truth))
        for key, name in (("farneback", "Farneback flow"), ("dis", "DIS flow")):
            t = time.perf_counter()
            filled = flow_fill(raw[i].image, raw[i - 2].image, gt[i - 1].image, key)
            flow_s[key] += time.perf_counter() - t
            rows[name].append(psnr(filled, truth))
    n = len(list(odd))
    every2 = {name: stats(v) for name, v in rows.items()}
    ms = {
        "predictor": pred_s * 1000,
        "repeat last": 0.0,
        "Farneback flow": flow_s["farneback"] / n * 1000,
        "DIS flow": flow_s["dis"] / n * 1000,
    }
    for name in every2:
        every2[name]["ms_per_frame"] = round(ms[name], 1)
    # live: only every third frame arrives (stylized); the stage extrapolates the two in between
    live_seq = [gt[i] for i in range(0, len(raw), 3)]
    live_pred, _, live_counters = run_predict(live_seq, predictor)
    missing = [i for i in range(3, len(raw)) if i % 3 != 0 and i in live_pred]
    live_rows = {
        "predictor (extrapolating)": [psnr(live_pred[i], gt[i].image) for i in missing],
        "repeat last": [psnr(gt[i - i % 3].image, gt[i].image) for i in missing],
    }
    return {
        "clip": clip.name,
        "frames": len(raw),
        "size": f"{raw[0].width}x{raw[0].height}",
        "style_ms_per_frame": round(style_s * 1000, 1),
        "every2": every2,
        "every2_counters": counters,
        "live_every3": {name: stats(v) for name, v in live_rows.items()},
        "live_counters": live_counters,
    }


def _doc(graph: Path, clip: Path, out_dir: Path, *, every: int, predict: bool, sink: str) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(graph.read_text())
    stages = []
    for s in doc["stages"]:
        if s["type"] == "capture":
            s["uri"] = str(clip)
        elif s["type"] == "translate":
            s["every"] = every
            s["threads"] = 2
        elif s["type"] == "predict" and not predict:
            continue
        elif s["type"] == "encode":
            if sink == "null":
                s = {"name": s["name"], "type": "null", "queue": 16}
            else:
                s["path"] = str(out_dir / f"{every}_{int(predict)}.mp4")
        stages.append(s)
    doc["stages"] = stages
    return doc


def run_doc(doc: dict[str, Any], graph: Path, *, mode: str, realtime: bool) -> dict[str, Any]:
    doc = {**doc, "mode": mode}
    spec = build_graph(doc, path=graph)
    result = run_graph(spec, RunOptions(realtime=realtime, quiet=True, progress=False, handle_signals=False))
    if result.error is not None:
        raise result.error
    m = {s.name: s for s in result.metrics}
    src = m[doc["stages"][0]["name"]]
    sink = m[doc["stages"][-1]["name"]]
    style = m["style"]
    return {
        "source_frames": src.frames_out,
        "output_frames": sink.frames_in,
        "wall_s": round(result.wall, 2),
        "fps": round(src.frames_out / result.wall, 2),
        "output_fps": round(sink.frames_in / result.wall, 2),
        "style_drops": style.drops,
        "drops": sum(s.drops for s in result.metrics),
        "counters": {k: v for s in result.metrics for k, v in s.counters.items()},
    }


def speed(graph: Path, clip: Path, frames: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        res = {}
        for key, every, predict in (
            ("translate every 1", 1, False),
            ("translate every 2 + predict", 2, True),
        ):
            doc = _doc(graph, clip, out, every=every, predict=predict, sink="encode")
            doc["stages"][0]["frames"] = frames
            res[key] = run_doc(doc, graph, mode="offline", realtime=False)
    res["speedup"] = round(res["translate every 2 + predict"]["fps"] / res["translate every 1"]["fps"], 2)
    return res


def live(graph: Path, clip: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        alone = run_doc(
            _doc(graph, clip, out, every=1, predict=False, sink="null"), graph, mode="live", realtime=True
        )
        filled = run_doc(
            _doc(graph, clip, out, every=1, predict=True, sink="null"), graph, mode="live", realtime=True
        )
    return {"translate alone": alone, "translate + predict": filled}


def markdown(res: dict[str, Any]) -> str:
    lines = []
    q = res.get("quality")
    if q:
        lines += [
            f"### Filled frames, translate every 2 ({q['clip']}, held out, {q['frames']} frames at {q['size']}; "
            f"truth: the style model on every frame, {q['style_ms_per_frame']} ms/frame)",
            "",
            "| method | PSNR mean (dB) | PSNR median (dB) | frames | ms/frame |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in q["every2"].items():
            lines.append(
                f"| {name} | {r['mean']:.2f} | {r['median']:.2f} | {r['frames']} | {r['ms_per_frame']} |"
            )
        lines += [
            "",
            "### Live drops simulated (every third frame arrives; the two between are extrapolated)",
            "",
        ]
        lines += ["| method | PSNR mean (dB) | PSNR median (dB) | frames |", "|---|---:|---:|---:|"]
        for name, r in q["live_every3"].items():
            lines.append(f"| {name} | {r['mean']:.2f} | {r['median']:.2f} | {r['frames']} |")
    s = res.get("speed")
    if s:
        lines += ["", f"### Speed, offline, runner ({res['speed_clip']}, style model 2 threads)", ""]
        lines += ["| graph | frames | wall (s) | frames/s | predicted |", "|---|---:|---:|---:|---:|"]
        for key in ("translate every 1", "translate every 2 + predict"):
            r = s[key]
            lines.append(
                f"| {key} | {r['output_frames']} | {r['wall_s']} | {r['fps']} | {r['counters'].get('predicted', 0)} |"
            )
        lines.append(f"\nspeed-up: **{s['speedup']}x**")
    lv = res.get("live")
    if lv:
        lines += ["", f"### Live, --realtime ({res['speed_clip']}, 30 fps)", ""]
        lines += [
            "| graph | source frames | output frames | style drops | output frames/s | predicted | repeated |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, r in lv.items():
            c = r["counters"]
            lines.append(
                f"| {key} | {r['source_frames']} | {r['output_frames']} | {r['style_drops']} | {r['output_fps']} | "
                f"{c.get('predicted', 0)} | {c.get('repeated', 0)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default=None, help="style model (default models/cartoon.onnx)")
    p.add_argument("--predictor", default=str(ROOT / "models/predictor.onnx"))
    p.add_argument("--graph", default=str(ROOT / "graphs/file_stylize_fast.yaml"))
    p.add_argument("--clip", default=str(ROOT / "samples/two_people.mp4"), help="held-out quality clip")
    p.add_argument("--speed-clip", default=str(ROOT / "samples/face_audio.mp4"))
    p.add_argument("--size", type=int, default=360, help="style model run size (longer side)")
    p.add_argument("--frames", type=int, default=60, help="quality frames")
    p.add_argument("--speed-frames", type=int, default=90)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-live", action="store_true")
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/predict.json"))
    args = p.parse_args(argv)
    style = Path(args.style or ROOT / "models/cartoon.onnx")
    graph = Path(args.graph)
    res: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_start": os.getloadavg(),
        },
        "style_model": str(style),
        "predictor": str(args.predictor),
        "speed_clip": Path(args.speed_clip).name,
    }
    res["quality"] = quality(Path(args.clip), style, Path(args.predictor), args.frames, args.size)
    print(markdown(res), flush=True)
    if not args.no_speed:
        doc_graph = _with_models(graph, style, Path(args.predictor))
        res["speed"] = speed(doc_graph, Path(args.speed_clip), args.speed_frames)
        if not args.no_live:
            res["live"] = live(doc_graph, Path(args.speed_clip))
    res["machine"]["load_avg_end"] = os.getloadavg()
    print()
    print(markdown({k: v for k, v in res.items() if k != "quality"}))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def _with_models(graph: Path, style: Path, predictor: Path) -> Path:
    """A copy of ``graph`` naming ``style`` and ``predictor`` (absolute), in a temp folder."""
    import yaml

    doc = yaml.safe_load(graph.read_text())
    for s in doc["stages"]:
        if s["type"] == "translate":
            s["model"] = str(style.resolve())
        elif s["type"] == "predict":
            s["model"] = str(predictor.resolve())
    out = Path(tempfile.mkdtemp()) / graph.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


if __name__ == "__main__":
    sys.exit(main())
