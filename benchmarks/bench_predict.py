"""Frame prediction: quality of the filled frames, speed of `every: 2` + predict, and the live check.

``python benchmarks/bench_predict.py [--region faces|frame] [--clips CLIP ...] [--frames N]
[--speed-clips CLIP ...] [--speed-frames N] [--repeat 3] [--quick] [--no-quality] [--no-speed]
[--no-live] [--json PATH]``

``--region faces`` (the default, the project's default use) measures graphs/file_stylize.yaml
(capture → face_detect → translate faces, models/face_drawing.onnx → encode) against
graphs/file_stylize_fast.yaml (the same with ``every: 2`` and a ``predict`` stage):

1. Quality, on the held-out clip ``samples/two_people.mp4`` (the predictor never trained on it;
   two faces, each its own track) and on ``samples/one_face.mp4``. Ground truth: capture →
   face_detect (stage defaults) → translate (faces) on every frame. The ``every: 2`` sequence
   is the same, except that the odd frames come from a translate stage with ``every: 2`` (the
   raw picture plus ``extra["face_crops"]`` with ``styled`` None), fed through the ``predict``
   stage exactly as in a graph. Each odd frame with at least one face is filled by

   - the predictor (the ``predict`` stage's faces path),
   - "repeat last frame": the previous output frame as it is,
   - "last crop re-pasted": the track's last translated crop pasted unchanged into the frame's
     own picture with the current crop matrix (the predictor with zero motion),
   - OpenCV flow in the crop (Farneback, DIS): the backward flow from the current raw crop to
     the track's last raw crop warps the last translated crop, which is then pasted.

   PSNR against the truth over the whole frame and over the face regions only. The face region
   of a frame is the union of the footprints of all its face crops in the frame (each crop's
   square mapped back by the inverse of its matrix: the pixels a paste can change; a rotated
   square when the eyes are not level). Outside it every method equals the truth, so the
   whole-frame figure mostly says how much of the picture the faces cover. PSNR is capped at
   100 dB. Also ms per filled frame of each method (the predictor: ``predict.process`` on the
   skipped frames; its state update on the translated frames is reported separately).

   A second table simulates live drops (only every third frame arrives, translated; the two in
   between never reach the stage). The faces path repeats the last output for frames that never
   arrived (there is no picture of theirs to paste faces into), so both rows must agree: the
   table checks the stage does exactly that; the frame region extrapolates instead.
2. Speed, offline through the runner on the graphs' own clip ``samples/one_face.mp4`` (720p,
   one face) and on ``samples/two_people.mp4`` (540p, two faces: twice the stylization per
   frame), all frames, median of ``--repeat`` interleaved runs: file_stylize vs
   file_stylize_fast, (a) as the graphs are, encoding to a temp file, (b) with the encode stage
   replaced by a ``null`` sink (the stylization alone). The graphs are used as they are (no
   thread settings forced); only paths are redirected. Each run also records the process's CPU
   ms per frame, which other jobs on a shared machine disturb far less than wall time.
   Then every stage alone (CPU ms per frame; decode, face_detect and encode are shared by both
   graphs), and a CPU model from those costs: the speed-up the shared stages allow, and how
   expensive translate would have to be for 1.6x (see ``stage_cost``).
3. Live (``--realtime``, live mode, the 30 fps clip): file_stylize with a null sink (translate
   alone, dropping what it cannot keep up with) vs file_stylize_fast with ``every`` forced to 1
   and a null sink (the drops are filled by predict).

``--region frame`` is the older whole-frame measurement: models/cartoon.onnx on the whole
picture (quality on two_people.mp4, truth: the cartoon on every frame; the predictor, repeating
the last frame, and frame-wide Farneback/DIS flow), speed and live on graphs/file_cartoon.yaml
against the same graph with ``every: 2`` and a predict stage inserted (``max_gap: 6``, sink
``queue: 16``, as in file_stylize_fast), on the graph's own clip (face_audio.mp4).

Prints Markdown tables and writes JSON (default benchmarks/results/predict.json, or
predict_frame.json for ``--region frame``); never fails on timing. Timings on a shared machine
vary: the JSON records the machine, the core count, the load average at start and end, and the
exact command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.bench import usable_cores  # noqa: E402
from streamer.frame import Frame  # noqa: E402
from streamer.geometry import FACE_CROPS, FaceCrops, crop_with, paste_into  # noqa: E402
from streamer.graph import build_graph  # noqa: E402
from streamer.runner import RunOptions, run_graph  # noqa: E402
from streamer.stages.base import RunContext, Stage  # noqa: E402

PSNR_CAP = 100.0
TARGET_SPEEDUP = 1.6  # the predict issue's speed-up target, for the CPU model's "needed" column
FACES_GRAPHS = ("graphs/file_stylize.yaml", "graphs/file_stylize_fast.yaml")
FRAME_GRAPH = "graphs/file_cartoon.yaml"
METHODS_FACES = (
    "predictor",
    "repeat last frame",
    "last crop re-pasted",
    "Farneback flow (crop)",
    "DIS flow (crop)",
    "Farneback flow (window)",
    "DIS flow (window)",
)


def _ctx() -> RunContext:
    return RunContext(log=lambda _m: None, quiet=True)


def _stage(cls: type[Stage], name: str, **params: Any) -> Stage:
    st = cls(name, cls.Params(**params), _ctx())  # type: ignore[attr-defined]
    st.open()
    return st


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR of uint8 pictures (over the pixels where ``mask`` is true), capped at PSNR_CAP."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        d = d[mask]
    if d.size == 0:
        return float("nan")
    mse = float(np.mean(d**2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * math.log10(255.0**2 / mse))


def stats(values: list[float]) -> dict[str, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"mean": float("nan"), "median": float("nan"), "frames": 0}
    return {
        "mean": round(float(np.mean(values)), 2),
        "median": round(float(statistics.median(values)), 2),
        "frames": len(values),
    }


def read_clip(path: Path, count: int | None) -> list[Frame]:
    from streamer.stages.capture import Capture

    cap = _stage(Capture, "cam", uri=str(path), audio=False)
    frames: list[Frame] = []
    try:
        gen = cap.frames()  # type: ignore[attr-defined]
        for f in gen:
            frames.append(f)
            if count is not None and len(frames) >= count:
                break
        gen.close()
    finally:
        cap.close()
    return frames


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


# ---------------------------------------------------------------------------------------- faces


def face_mask(crops: FaceCrops, height: int, width: int) -> np.ndarray:
    """The face region: union of the crops' footprints in the frame (inverse matrix of each)."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    s_h = s_w = crops.size
    for m in crops.matrices:
        inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
        corners = np.array([[0, 0, 1], [s_w, 0, 1], [s_w, s_h, 1], [0, s_h, 1]], np.float64) @ inv.T
        cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 1)
    return mask.astype(bool)


def flow_warp(
    cur_raw: np.ndarray, prev_raw: np.ndarray, styled: np.ndarray, method: str, scale: float = 1.0
) -> np.ndarray:
    """``styled`` warped by ``scale`` x the OpenCV backward flow raw ``cur_raw`` → ``prev_raw``
    (``method`` farneback or dis); scale 0.5 turns a flow over two frames into one frame's."""
    import cv2

    a = cv2.cvtColor(cur_raw, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(prev_raw, cv2.COLOR_RGB2GRAY)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    h, w = a.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        styled,
        xs + scale * flow[..., 0],
        ys + scale * flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _keys(crops: FaceCrops) -> list[int | str]:
    """Track keys as the predict stage makes them (a face without a track id: its position)."""
    return [t if t is not None else f"#{i}" for i, t in enumerate(crops.track_ids)]


def faces_quality(clip: Path, style: Path, predictor: Path, count: int | None) -> dict[str, Any]:
    from streamer.stages.face_detect import FaceDetect
    from streamer.stages.predict import Predict
    from streamer.stages.translate import Translate

    raw = read_clip(clip, count)
    det = _stage(FaceDetect, "faces")
    detected, detect_s = _timed(lambda: [det.process(f) for f in raw])
    det.close()
    full = _stage(Translate, "style", model=str(style), region="faces")
    truth, style_s = _timed(lambda: [full.process(f) for f in detected])
    full.close()
    skip = _stage(Translate, "style", model=str(style), region="faces", every=2)
    # every: 2 translates the even frames exactly as every: 1 does (same model, same crops)
    seq = [truth[i] if i % 2 == 0 else skip.process(detected[i]) for i in range(len(detected))]
    skip.close()

    fill = _stage(Predict, "fill", model=str(predictor), max_gap=6)
    pred: dict[int, np.ndarray] = {}
    fill_s = {"skipped": 0.0, "translated": 0.0}
    for f in seq:
        outs, dt = _timed(lambda f=f: fill.process(f))
        fill_s["skipped" if f.index % 2 else "translated"] += dt
        for o in outs:
            pred[o.index] = o.image
    for o in fill.flush():
        pred[o.index] = o.image
    counters = dict(fill.counters)
    fill.close()

    # the baselines keep, per track, the last translated crop and the raw crop it came from
    memory: dict[int | str, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
    whole: dict[str, list[float]] = {m: [] for m in METHODS_FACES}
    faces: dict[str, list[float]] = {m: [] for m in METHODS_FACES}
    spent = dict.fromkeys(METHODS_FACES, 0.0)
    no_face = unfilled_baseline = 0
    for i, f in enumerate(seq):
        crops = f.extra.get(FACE_CROPS)
        assert isinstance(crops, FaceCrops), f"{clip.name} frame {i}: no face_crops from translate"
        keys = _keys(crops)
        if crops.styled is not None:
            for k, key in enumerate(keys):
                memory[key] = (i, crops.styled[k], crops.raw[k], crops.matrices[k])  # type: ignore[index]
            memory = {k: v for k, v in memory.items() if v[0] >= i - 7}  # the predictor's horizon
            continue
        if not keys:
            no_face += 1
            continue
        gt = truth[i].image
        mask = face_mask(crops, f.height, f.width)
        outs: dict[str, np.ndarray] = {"predictor": pred[i]}
        t = time.perf_counter()
        outs["repeat last frame"] = pred[i - 1] if i - 1 in pred else seq[i - 1].image
        spent["repeat last frame"] += time.perf_counter() - t
        # (crop): flow between the face's own crops of the two frames, pasted with this frame's
        # crop; (window): the frame seen through the last translated crop's window (what the
        # predict stage does), flow inside it, pasted back through that window
        for name, method, window in (
            ("last crop re-pasted", None, False),
            ("Farneback flow (crop)", "farneback", False),
            ("DIS flow (crop)", "dis", False),
            ("Farneback flow (window)", "farneback", True),
            ("DIS flow (window)", "dis", True),
        ):
            t = time.perf_counter()
            out = f.image.copy()
            for k, key in enumerate(keys):
                if key not in memory:
                    unfilled_baseline += method is None
                    continue
                _, styled, prev_raw, prev_m = memory[key]
                m = prev_m if window else crops.matrices[k]
                if method is not None:
                    cur = crop_with(f.image, m, (crops.size, crops.size))
                    styled = flow_warp(cur, prev_raw, styled, method)
                paste_into(out, styled, m, feather=crops.feather)
            spent[name] += time.perf_counter() - t
            outs[name] = out
        for name, out in outs.items():
            whole[name].append(psnr(out, gt))
            faces[name].append(psnr(out, gt, mask))
    filled = len(whole["predictor"])
    n_skipped = sum(1 for f in seq if f.index % 2)
    ms = {name: spent[name] / max(1, filled) * 1000 for name in METHODS_FACES}
    ms["predictor"] = fill_s["skipped"] / max(1, n_skipped) * 1000
    rows = {
        name: {
            "whole": stats(whole[name]),
            "faces": stats(faces[name]),
            "ms_per_filled_frame": round(ms[name], 2),
        }
        for name in METHODS_FACES
    }
    n_faces = [len(f.extra[FACE_CROPS].track_ids) for f in seq]
    tracks = {t for f in seq for t in f.extra[FACE_CROPS].track_ids}
    area = [float(face_mask(f.extra[FACE_CROPS], f.height, f.width).mean()) for f in seq if f.faces]

    live = faces_live(truth, predictor)
    return {
        "clip": clip.name,
        "frames": len(raw),
        "size": f"{raw[0].width}x{raw[0].height}",
        "faces_per_frame": {
            "min": min(n_faces),
            "max": max(n_faces),
            "mean": round(float(np.mean(n_faces)), 2),
        },
        "track_ids": sorted(tracks, key=str),
        "face_region_fraction": round(float(np.mean(area)), 4) if area else 0.0,
        "detect_ms_per_frame": round(detect_s / len(raw) * 1000, 1),
        "style_ms_per_frame": round(style_s / len(raw) * 1000, 1),
        "predict_ms_per_translated_frame": round(
            fill_s["translated"] / max(1, len(seq) - n_skipped) * 1000, 2
        ),
        "filled_frames": filled,
        "skipped_frames_without_faces": no_face,
        "baseline_faces_unfilled": unfilled_baseline,
        "every2": rows,
        "every2_counters": counters,
        **live,
    }


def faces_live(truth: list[Frame], predictor: Path) -> dict[str, Any]:
    """Live drops: every third translated frame arrives; the stage fills the two in between."""
    from streamer.stages.predict import Predict

    fill = _stage(Predict, "fill", model=str(predictor), max_gap=6)
    got: dict[int, np.ndarray] = {}
    spent = 0.0
    for f in truth[::3]:
        outs, dt = _timed(lambda f=f: fill.process(f))
        spent += dt
        for o in outs:
            got[o.index] = o.image
    counters = dict(fill.counters)
    fill.close()
    missing = [i for i in range(3, len(truth)) if i % 3 and i in got]
    rows: dict[str, dict[str, Any]] = {}
    for name, pick in (
        ("predict stage (faces: repeats)", lambda i: got[i]),
        ("repeat last frame", lambda i: truth[i - i % 3].image),
    ):
        w, fc = [], []
        for i in missing:
            crops = truth[i].extra[FACE_CROPS]
            w.append(psnr(pick(i), truth[i].image))
            if crops.track_ids:
                fc.append(psnr(pick(i), truth[i].image, face_mask(crops, truth[i].height, truth[i].width)))
        rows[name] = {"whole": stats(w), "faces": stats(fc)}
    return {
        "live_every3": rows,
        "live_counters": counters,
        "live_ms_per_arrived_frame": round(spent / max(1, len(truth[::3])) * 1000, 1),
    }


# ---------------------------------------------------------------------------------------- frame


def _run_predict(frames: list[Frame], predictor: Path) -> tuple[dict[int, np.ndarray], float, dict[str, int]]:
    from streamer.stages.predict import Predict

    st = _stage(Predict, "fill", model=str(predictor), max_gap=6)
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


def frame_quality(clip: Path, style: Path, predictor: Path, count: int | None, size: int) -> dict[str, Any]:
    from streamer.stages.translate import Translate

    raw = read_clip(clip, count)
    st = _stage(Translate, "style", model=str(style), size=size)
    gt, style_s = _timed(lambda: [st.process(f) for f in raw])
    st.close()
    # every: 2 -> odd frames arrive raw with translated=False
    seq = [gt[i] if i % 2 == 0 else raw[i].replace(translated=False) for i in range(len(raw))]
    pred, pred_s, counters = _run_predict(seq, predictor)
    odd = list(range(3, len(raw), 2))  # from the second odd frame on, every method has raw t-2
    names = ("predictor", "repeat last frame", "Farneback flow", "DIS flow")
    rows: dict[str, list[float]] = {n: [] for n in names}
    flow_s = {"farneback": 0.0, "dis": 0.0}
    for i in odd:
        truth = gt[i].image
        rows["predictor"].append(psnr(pred[i], truth))
        rows["repeat last frame"].append(psnr(gt[i - 1].image, truth))
        for key, name in (("farneback", "Farneback flow"), ("dis", "DIS flow")):
            filled, dt = _timed(
                lambda key=key, i=i: flow_warp(raw[i].image, raw[i - 2].image, gt[i - 1].image, key, 0.5)
            )
            flow_s[key] += dt
            rows[name].append(psnr(filled, truth))
    n = max(1, len(odd))
    ms = {
        "predictor": pred_s * 1000,
        "repeat last frame": 0.0,
        "Farneback flow": flow_s["farneback"] / n * 1000,
        "DIS flow": flow_s["dis"] / n * 1000,
    }
    every2 = {
        name: {"whole": stats(v), "ms_per_filled_frame": round(ms[name], 1)} for name, v in rows.items()
    }
    live_seq = [gt[i] for i in range(0, len(raw), 3)]
    live_pred, _, live_counters = _run_predict(live_seq, predictor)
    missing = [i for i in range(3, len(raw)) if i % 3 != 0 and i in live_pred]
    live_rows = {
        "predictor (extrapolating)": [psnr(live_pred[i], gt[i].image) for i in missing],
        "repeat last frame": [psnr(gt[i - i % 3].image, gt[i].image) for i in missing],
    }
    return {
        "clip": clip.name,
        "frames": len(raw),
        "size": f"{raw[0].width}x{raw[0].height}",
        "style_ms_per_frame": round(style_s / len(raw) * 1000, 1),
        "every2": every2,
        "every2_counters": counters,
        "live_every3": {name: {"whole": stats(v)} for name, v in live_rows.items()},
        "live_counters": live_counters,
    }


# ---------------------------------------------------------------------------------------- graphs


def _abs(value: str, graph: Path) -> str:
    """A graph's relative path made absolute the way the runner would find it from the repo root."""
    p = Path(value)
    if p.is_absolute():
        return value
    for base in (ROOT, graph.parent):
        if (base / p).exists():
            return str((base / p).resolve())
    return value


def graph_doc(
    graph: Path,
    *,
    out_dir: Path,
    sink: str,
    clip: Path | None = None,
    frames: int | None = None,
    every: int | None = None,
    insert_predict: Path | None = None,
    style: Path | None = None,
    predictor: Path | None = None,
) -> dict[str, Any]:
    """``graph`` as it is, with paths redirected: the clip, the output file (``sink`` "encode"),
    or the encode stage replaced by a ``null`` sink (``sink`` "null", its queue kept).
    ``every`` forces translate's; ``insert_predict`` (a predictor path) adds a predict stage
    after translate (max_gap 6) and gives the sink queue 16, as in file_stylize_fast."""
    import yaml

    doc = yaml.safe_load(graph.read_text())
    stages: list[dict[str, Any]] = []
    for s in doc["stages"]:
        s = dict(s)
        kind = s["type"]
        if kind == "capture":
            s["uri"] = str(clip.resolve()) if clip is not None else _abs(s["uri"], graph)
            if frames is not None:
                s["frames"] = frames
        elif kind == "translate":
            s["model"] = str(style.resolve()) if style is not None else _abs(s["model"], graph)
            if every is not None:
                s["every"] = every
        elif kind == "predict":
            s["model"] = str(predictor.resolve()) if predictor is not None else _abs(s["model"], graph)
        elif kind == "encode":
            if sink == "null":
                s = {"name": s["name"], "type": "null", **({"queue": s["queue"]} if "queue" in s else {})}
            else:
                s["path"] = str(out_dir / f"{graph.stem}_{every or 'g'}_{insert_predict is not None}.mp4")
            if insert_predict is not None:
                s["queue"] = 16
        stages.append(s)
        if kind == "translate" and insert_predict is not None:
            stages.append(
                {"name": "fill", "type": "predict", "model": str(insert_predict.resolve()), "max_gap": 6}
            )
    doc["stages"] = stages
    return doc


def run_doc(doc: dict[str, Any], graph: Path, *, mode: str, realtime: bool) -> dict[str, Any]:
    doc = {**doc, "mode": mode}
    spec = build_graph(doc, path=graph)
    result = run_graph(
        spec,
        RunOptions(realtime=realtime, quiet=True, progress=False, handle_signals=False, log=lambda _m: None),
    )
    if result.error is not None:
        raise result.error
    m = {s.name: s for s in result.metrics}
    src = m[doc["stages"][0]["name"]]
    sink = m[doc["stages"][-1]["name"]]
    wall = max(result.wall, 1e-9)
    return {
        "source_frames": src.frames_out,
        "output_frames": sink.frames_in,
        "wall_s": round(result.wall, 3),
        "fps": round(src.frames_out / wall, 2),
        "output_fps": round(sink.frames_in / wall, 2),
        "drops": {s.name: s.drops for s in result.metrics if s.drops},
        "drops_total": sum(s.drops for s in result.metrics),
        "busy_ms_per_frame": {
            s.name: round(s.busy / max(1, s.frames_in or s.frames_out) * 1000, 2) for s in result.metrics
        },
        "counters": {f"{s.name}.{k}": v for s in result.metrics for k, v in s.counters.items()},
        # the whole process's CPU time per source frame (every thread): what the stages share
        "cpu_ms_per_frame": (
            round(result.cpu * 1000 / max(1, src.frames_out), 2) if result.cpu is not None else None
        ),
    }


def _counter(r: dict[str, Any], key: str) -> int:
    return sum(v for k, v in r["counters"].items() if k.endswith("." + key))


SINKS = ("encode", "null")


def speed(
    pairs: list[tuple[str, Path, dict[str, Any]]],
    clips: list[Path],
    frames: int | None,
    repeat: int,
) -> dict[str, Any]:
    """Per clip, each (label, graph, graph_doc options) offline with
    encode and with a null sink, ``repeat`` rounds. A round runs every graph and sink once, in
    turn, so a slow spell of a shared machine hits them alike (interleaved, not one graph's runs
    then the other's). Per run: frames/s (wall) and the process's CPU ms per frame."""
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {
                (sink, label): [] for sink in SINKS for label, _, _ in pairs
            }
            for _ in range(repeat):
                for sink in SINKS:
                    for label, graph, opts in pairs:
                        doc = graph_doc(graph, out_dir=Path(tmp), sink=sink, clip=clip, frames=frames, **opts)
                        runs[(sink, label)].append(run_doc(doc, graph, mode="offline", realtime=False))
            per_sink: dict[str, Any] = {}
            for sink in SINKS:
                block: dict[str, Any] = {}
                for label, _, _ in pairs:
                    rs = runs[(sink, label)]
                    med = sorted(rs, key=lambda r: r["fps"])[len(rs) // 2]
                    cpu = [r["cpu_ms_per_frame"] for r in rs if r["cpu_ms_per_frame"] is not None]
                    block[label] = {
                        **med,
                        "fps_runs": [r["fps"] for r in rs],
                        "fps_median": statistics.median(r["fps"] for r in rs),
                        "cpu_ms_runs": cpu,
                        "cpu_ms_median": round(statistics.median(cpu), 2) if cpu else None,
                    }
                slow, fast = (block[label] for label, _, _ in pairs)
                block["speedup"] = (
                    round(fast["fps_median"] / slow["fps_median"], 2) if slow["fps_median"] else None
                )
                block["cpu_speedup"] = (
                    round(slow["cpu_ms_median"] / fast["cpu_ms_median"], 2)
                    if slow["cpu_ms_median"] and fast["cpu_ms_median"]
                    else None
                )
                per_sink[sink] = block
            res[clip.name] = per_sink
    return res


def live(pairs: list[tuple[str, Path, dict[str, Any]]], clip: Path | None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, graph, opts in pairs:
            doc = graph_doc(graph, out_dir=Path(tmp), sink="null", clip=clip, **opts)
            res[label] = run_doc(doc, graph, mode="live", realtime=True)
    return res


# ---------------------------------------------------------------------------------------- report


def _f(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def markdown_quality(q: dict[str, Any], region: str) -> list[str]:
    lines: list[str] = []
    if region == "faces":
        lines += [
            f"### Filled faces, translate every 2 ({q['clip']}, {q['frames']} frames at {q['size']}, "
            f"{q['faces_per_frame']['mean']} faces/frame, face region {q['face_region_fraction'] * 100:.1f}% "
            f"of the frame; truth: translate on every frame, {q['style_ms_per_frame']} ms/frame + "
            f"face_detect {q['detect_ms_per_frame']} ms/frame)",
            "",
            "| method | faces PSNR mean (dB) | faces PSNR median (dB) | frame PSNR mean (dB) | "
            "frame PSNR median (dB) | frames | ms/filled frame |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in q["every2"].items():
            lines.append(
                f"| {name} | {_f(r['faces']['mean'])} | {_f(r['faces']['median'])} | {_f(r['whole']['mean'])} | "
                f"{_f(r['whole']['median'])} | {r['whole']['frames']} | {r['ms_per_filled_frame']} |"
            )
        c = q["every2_counters"]
        lines += [
            "",
            f"predict counters: predicted {c.get('predicted', 0)}, repeated {c.get('repeated', 0)}, "
            f"faces_unfilled {c.get('faces_unfilled', 0)}; skipped frames without faces "
            f"{q['skipped_frames_without_faces']}; predict on translated frames (state update) "
            f"{q['predict_ms_per_translated_frame']} ms/frame",
            "",
            f"#### Live drops simulated ({q['clip']}: every third frame arrives; the stage repeats the "
            f"last output for the two between, {q['live_ms_per_arrived_frame']} ms per arriving frame)",
            "",
            "| method | faces PSNR mean (dB) | frame PSNR mean (dB) | frame PSNR median (dB) | frames |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in q["live_every3"].items():
            lines.append(
                f"| {name} | {_f(r['faces']['mean'])} | {_f(r['whole']['mean'])} | {_f(r['whole']['median'])} | "
                f"{r['whole']['frames']} |"
            )
    else:
        lines += [
            f"### Filled frames, translate every 2 ({q['clip']}, {q['frames']} frames at {q['size']}; "
            f"truth: the style model on every frame, {q['style_ms_per_frame']} ms/frame)",
            "",
            "| method | PSNR mean (dB) | PSNR median (dB) | frames | ms/filled frame |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in q["every2"].items():
            w = r["whole"]
            lines.append(
                f"| {name} | {_f(w['mean'])} | {_f(w['median'])} | {w['frames']} | {r['ms_per_filled_frame']} |"
            )
        lines += [
            "",
            f"#### Live drops simulated ({q['clip']}: every third frame arrives; the two between are extrapolated)",
            "",
            "| method | PSNR mean (dB) | PSNR median (dB) | frames |",
            "|---|---:|---:|---:|",
        ]
        for name, r in q["live_every3"].items():
            w = r["whole"]
            lines.append(f"| {name} | {_f(w['mean'])} | {_f(w['median'])} | {w['frames']} |")
    return lines


def stage_cost(clip: Path, style: Path, predictor: Path, repeat: int) -> dict[str, Any]:
    """Every stage of the two graphs alone, in this process, CPU ms per frame (median of
    ``repeat`` runs; process CPU time, so onnxruntime's, the decoder's and x264's threads count).

    - the stylization stages, on frames already decoded and detected: translate (faces) on
      every frame vs translate ``every: 2`` + predict, interleaved (fresh stages each run, the
      first frame of each run not timed: warm-up);
    - the stages both graphs share: decode (capture), face_detect and encode (libx264 with the
      graphs' preset, the full-rate output), each on the whole clip.

    With these, a CPU model of the two graphs on C saturated cores: frames/s ~ C * 1000 / (sum of
    the stages' CPU ms). The speed-up it allows is (S + T1) / (S + T2), S the shared stages, T1
    translate every 1, T2 every 2 + predict: the shared stages cap it (Amdahl). Writing
    T2 = T1 / 2 + x (x: predict plus the skipped frames' bookkeeping), a speed-up of R needs
    T1 >= (R - 1) * S / (1 - R / 2) + R * x / (1 - R / 2), and file_stylize would then run at about
    C * 1000 / (S + T1) frames/s."""
    from streamer.stages.encode import Encode
    from streamer.stages.face_detect import FaceDetect
    from streamer.stages.predict import Predict
    from streamer.stages.translate import Translate

    def cpu_ms(fn: Callable[[], Any], frames: int) -> tuple[Any, float]:
        t = time.process_time()
        out = fn()
        return out, (time.process_time() - t) / frames * 1000

    shared: dict[str, list[float]] = {"decode": [], "face_detect": [], "encode": []}
    decoded: list[Frame] = []
    for _ in range(repeat):
        decoded, ms = cpu_ms(lambda: read_clip(clip, None), 1)
        shared["decode"].append(ms / len(decoded))
    n = len(decoded)
    det = _stage(FaceDetect, "faces")
    det.process(decoded[0])  # warm-up
    detected: list[Frame] = []
    for _ in range(repeat):
        detected, ms = cpu_ms(lambda: [det.process(f) for f in decoded], n)
        shared["face_detect"].append(ms)
    det.close()
    runs: dict[str, list[float]] = {"translate every 1": [], "translate every 2 + predict": []}
    full_rate: list[Frame] = []
    for _ in range(repeat):
        for key in runs:
            every = 1 if key.endswith("1") else 2
            tr = _stage(Translate, "style", model=str(style), region="faces", every=every)
            fill = _stage(Predict, "fill", model=str(predictor)) if every == 2 else None
            for f in detected[:1]:  # warm-up
                out = tr.process(f)
                if fill is not None:
                    fill.process(out)
            outs: list[Frame] = []
            t = time.process_time()
            for f in detected[1:]:
                out = tr.process(f)
                outs.append(out)
                if fill is not None:
                    fill.process(out)
            runs[key].append((time.process_time() - t) / (len(detected) - 1) * 1000)
            if every == 1:
                full_rate = outs
            tr.close()
            if fill is not None:
                fill.close()
    preset = _graph_preset(ROOT / FACES_GRAPHS[0])
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            enc = _stage(Encode, "out", path=str(Path(tmp) / "e.mp4"), preset=preset, audio="drop")

            def encode_all(enc: Any = enc) -> None:
                for f in full_rate:
                    enc.write(f)
                enc.close()

            _, ms = cpu_ms(encode_all, len(full_rate))
            shared["encode"].append(ms)
    med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    shared_med = {k: round(statistics.median(v), 2) for k, v in shared.items()}
    t1, t2 = med["translate every 1"], med["translate every 2 + predict"]
    x = t2 - t1 / 2
    cores = usable_cores()
    model: dict[str, Any] = {}
    for sink in SINKS:
        s_ms = (
            shared_med["decode"]
            + shared_med["face_detect"]
            + (shared_med["encode"] if sink == "encode" else 0)
        )
        target = TARGET_SPEEDUP
        t1_needed = ((target - 1) * s_ms + target * x) / (1 - target / 2)
        model[sink] = {
            "shared_ms": round(s_ms, 2),
            "speedup_estimate": round((s_ms + t1) / (s_ms + t2), 2),
            "every1_fps_estimate": round(cores * 1000 / (s_ms + t1), 1),
            "every2_fps_estimate": round(cores * 1000 / (s_ms + t2), 1),
            "translate_ms_for_1.6x": round(t1_needed, 1),
            "every1_fps_at_that_cost": round(cores * 1000 / (s_ms + t1_needed), 1),
        }
    return {
        "clip": clip.name,
        "frames": len(detected) - 1,
        "cores": cores,
        "encode_preset": preset,
        "cpu_ms_per_frame": med,
        "runs": {k: [round(v, 2) for v in vs] for k, vs in runs.items()},
        "shared_cpu_ms_per_frame": shared_med,
        "shared_runs": {k: [round(v, 2) for v in vs] for k, vs in shared.items()},
        "speedup": round(t1 / t2, 2),
        "predict_overhead_ms": round(x, 2),
        "cpu_model": model,
    }


def _graph_preset(graph: Path) -> str | None:
    import yaml

    doc = yaml.safe_load(graph.read_text())
    return next((s.get("preset") for s in doc["stages"] if s["type"] == "encode"), None)


def markdown(res: dict[str, Any]) -> str:
    lines: list[str] = []
    for q in res.get("quality", []):
        lines += [*markdown_quality(q, res["region"]), ""]
    for clip, per_sink in (res.get("speed") or {}).items():
        lines += [
            f"### Speed, offline, runner ({clip}, median of {res['repeat']} interleaved runs, graphs as they are)",
            "",
            "| sink | graph | frames | wall (s) | frames/s | runs (frames/s) | CPU ms/frame | predicted "
            "| speed-up (frames/s) | speed-up (CPU) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for sink, block in per_sink.items():
            labels = [k for k in block if k not in ("speedup", "cpu_speedup")]
            for j, label in enumerate(labels):
                r = block[label]
                last = j == len(labels) - 1
                up = f"**{block['speedup']}x**" if last and block["speedup"] else ""
                cup = f"{block['cpu_speedup']}x" if last and block.get("cpu_speedup") else ""
                lines.append(
                    f"| {sink} | {label} | {r['output_frames']} | {r['wall_s']} | {r['fps_median']} | "
                    f"{', '.join(str(x) for x in r['fps_runs'])} | {_f(r.get('cpu_ms_median'))} | "
                    f"{_counter(r, 'predicted')} | {up} | {cup} |"
                )
        lines.append("")
    sc = res.get("stage_cost")
    if sc:
        lines += [
            f"### Each stage alone ({sc['clip']}; CPU ms per frame, median of {res['repeat']})",
            "",
            "| stage | CPU ms/frame | runs | speed-up |",
            "|---|---:|---:|---:|",
        ]
        for key, ms in sc["shared_cpu_ms_per_frame"].items():
            label = f"{key} (both graphs)" + (f", preset {sc['encode_preset']}" if key == "encode" else "")
            lines.append(f"| {label} | {ms} | {', '.join(str(x) for x in sc['shared_runs'][key])} | |")
        for key, ms in sc["cpu_ms_per_frame"].items():
            up = f"**{sc['speedup']}x**" if key.endswith("predict") else ""
            lines.append(f"| {key} | {ms} | {', '.join(str(x) for x in sc['runs'][key])} | {up} |")
        lines += [
            "",
            f"CPU model on {sc['cores']} saturated cores (frames/s ~ cores x 1000 / sum of CPU ms; "
            f"predict and the skipped frames' bookkeeping cost x = {sc['predict_overhead_ms']} ms per frame):",
            "",
            "| sink | shared stages (ms) | every 1 (frames/s) | every 2 + predict (frames/s) | speed-up "
            "| translate every 1 needed for 1.6x (ms) | file_stylize then (frames/s) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for sink, m in sc["cpu_model"].items():
            lines.append(
                f"| {sink} | {m['shared_ms']} | {m['every1_fps_estimate']} | {m['every2_fps_estimate']} | "
                f"{m['speedup_estimate']}x | {m['translate_ms_for_1.6x']} | {m['every1_fps_at_that_cost']} |"
            )
        lines.append("")
    lv = res.get("live")
    if lv:
        lines += [
            f"### Live, --realtime, live mode ({res['live_clip']}, 30 fps; null sink)",
            "",
            "| graph | source frames | output frames | output frames/s | drops | predicted | repeated | "
            "faces_unfilled |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, r in lv.items():
            drops = ", ".join(f"{k} {v}" for k, v in r["drops"].items()) or "0"
            lines.append(
                f"| {key} | {r['source_frames']} | {r['output_frames']} | {r['output_fps']} | {drops} | "
                f"{_counter(r, 'predicted')} | {_counter(r, 'repeated')} | {_counter(r, 'faces_unfilled')} |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--region", choices=("faces", "frame"), default="faces", help="what is stylized (default faces)"
    )
    p.add_argument(
        "--style",
        default=None,
        help="style model (default: the graphs' own; quality: "
        "models/face_drawing.onnx for faces, models/cartoon.onnx for frame)",
    )
    p.add_argument("--predictor", default=str(ROOT / "models/predictor.onnx"))
    p.add_argument(
        "--clips",
        nargs="+",
        default=None,
        help="quality clips (default faces: samples/two_people.mp4 "
        "samples/one_face.mp4; frame: samples/two_people.mp4)",
    )
    p.add_argument(
        "--speed-clips",
        nargs="+",
        default=None,
        help="speed clips (default: the graphs' own, and for faces also samples/two_people.mp4); "
        "the first is also the live and stage-cost clip",
    )
    p.add_argument("--size", type=int, default=360, help="frame region: style model run size (longer side)")
    p.add_argument("--frames", type=int, default=None, help="quality frames per clip (default all)")
    p.add_argument("--speed-frames", type=int, default=None, help="speed frames (default all)")
    p.add_argument("--repeat", type=int, default=3, help="speed runs per graph (median)")
    p.add_argument("--quick", action="store_true", help="--frames 30 --speed-frames 30 --repeat 1")
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-live", action="store_true")
    p.add_argument(
        "--json",
        default=None,
        help="default benchmarks/results/predict.json (predict_frame.json for --region frame)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.frames = args.frames or 30
        args.speed_frames = args.speed_frames or 30
        args.repeat = 1
    faces = args.region == "faces"
    predictor = Path(args.predictor)
    style_q = (
        Path(args.style)
        if args.style
        else ROOT / ("models/face_drawing.onnx" if faces else "models/cartoon.onnx")
    )
    clips = (
        [Path(c) for c in args.clips]
        if args.clips
        else (
            [ROOT / "samples/two_people.mp4", ROOT / "samples/one_face.mp4"]
            if faces
            else [ROOT / "samples/two_people.mp4"]
        )
    )
    json_path = Path(
        args.json
        or ROOT / ("benchmarks/results/predict.json" if faces else "benchmarks/results/predict_frame.json")
    )
    style_g = Path(args.style) if args.style else None
    if faces:
        slow, fast = (ROOT / g for g in FACES_GRAPHS)
        speed_pairs = [
            ("file_stylize (every 1)", slow, {"style": style_g}),
            ("file_stylize_fast (every 2 + predict)", fast, {"style": style_g, "predictor": predictor}),
        ]
        live_pairs = [
            ("translate alone (file_stylize)", slow, {"style": style_g}),
            (
                "file_stylize_fast, every 1 (drops filled)",
                fast,
                {"style": style_g, "predictor": predictor, "every": 1},
            ),
        ]
    else:
        cartoon = ROOT / FRAME_GRAPH
        speed_pairs = [
            ("file_cartoon (every 1)", cartoon, {"style": style_g}),
            (
                "file_cartoon every 2 + predict",
                cartoon,
                {"style": style_g, "every": 2, "insert_predict": predictor},
            ),
        ]
        live_pairs = [
            ("translate alone (file_cartoon)", cartoon, {"style": style_g}),
            (
                "file_cartoon + predict, every 1 (drops filled)",
                cartoon,
                {"style": style_g, "every": 1, "insert_predict": predictor},
            ),
        ]
    graph_clip = Path(graph_doc(speed_pairs[0][1], out_dir=Path("."), sink="null")["stages"][0]["uri"])
    speed_clips = (
        [Path(c) for c in args.speed_clips]
        if args.speed_clips
        else ([graph_clip, ROOT / "samples/two_people.mp4"] if faces else [graph_clip])
    )
    speed_clip = speed_clips[0]  # also the live and stage-cost clip
    res: dict[str, Any] = {
        "command": shlex.join(
            [sys.executable, *sys.argv] if argv is None else [sys.executable, __file__, *argv]
        ),
        "cwd": os.getcwd(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_avg_start": os.getloadavg(),
        },
        "region": args.region,
        "style_model": str(style_q),
        "predictor": str(predictor),
        "graphs": sorted({str(g.relative_to(ROOT)) for _, g, _ in speed_pairs}),
        "speed_clips": [c.name for c in speed_clips],
        "live_clip": speed_clip.name,
        "repeat": args.repeat,
        "psnr_cap_db": PSNR_CAP,
    }
    if not args.no_quality:
        res["quality"] = []
        for clip in clips:
            if faces:
                q = faces_quality(clip, style_q, predictor, args.frames)
            else:
                q = frame_quality(clip, style_q, predictor, args.frames, args.size)
            res["quality"].append(q)
            print("\n".join(markdown_quality(q, args.region)) + "\n", flush=True)
    if not args.no_speed:
        res["speed"] = speed(speed_pairs, speed_clips, args.speed_frames, args.repeat)
        if faces:
            res["stage_cost"] = stage_cost(speed_clip, style_q, predictor, args.repeat)
    if not args.no_live:
        res["live"] = live(live_pairs, speed_clip)
    res["machine"]["load_avg_end"] = os.getloadavg()
    print(markdown({k: v for k, v in res.items() if k != "quality"}))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nwrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
