"""Make samples/file_stylize_before_after.jpg, the README's before/after picture.

Runs graphs/file_stylize.yaml exactly as the README's first command does (into a temp file),
then puts three source frames of samples/one_face.mp4 above the same frames of the output: the
whole frame on the left, the face enlarged on the right.

    python samples/make_readme_image.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.graph import load_graph  # noqa: E402
from streamer.runner import RunOptions, run_graph  # noqa: E402

CLIP = ROOT / "samples" / "one_face.mp4"
OUT = ROOT / "samples" / "file_stylize_before_after.jpg"
PICK = (0, 60, 119)  # frames shown
FULL_W, FACE = 480, 270  # whole frame width, face close-up side


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def face_square(image: np.ndarray, box: list[float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.75 * max(x2 - x1, y2 - y1)
    h, w = image.shape[:2]
    a, b = int(max(0, cx - half)), int(max(0, cy - half))
    c, d = int(min(w, cx + half)), int(min(h, cy + half))
    return cv2.resize(image[b:d, a:c], (FACE, FACE), interpolation=cv2.INTER_AREA)


def row(frames: list[np.ndarray], boxes: list[list[float]]) -> np.ndarray:
    full = cv2.resize(frames[0], (FULL_W, FULL_W * 9 // 16), interpolation=cv2.INTER_AREA)
    full = np.pad(full, ((0, FACE - full.shape[0]), (0, 0), (0, 0)), constant_values=255)
    faces = [face_square(f, b) for f, b in zip(frames, boxes, strict=True)]
    return np.concatenate([full, *faces], axis=1)


def main() -> None:
    truth = json.loads(CLIP.with_suffix(".faces.json").read_text())["frames"]
    boxes = [truth[i]["faces"][0]["box"] for i in PICK]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        result = run_graph(
            load_graph(ROOT / "graphs" / "file_stylize.yaml", [f"out.path={out}", "out.crf=16"]),
            RunOptions(quiet=True, handle_signals=False),
        )
        if result.error is not None:
            raise SystemExit(f"graph failed: {result.error}")
        after = decode(out)
    before = decode(CLIP)
    sheet = np.concatenate(
        [
            row([before[i] for i in PICK], boxes),
            np.full((6, FULL_W + 3 * FACE, 3), 255, np.uint8),
            row([after[i] for i in PICK], boxes),
        ],
        axis=0,
    )
    cv2.imwrite(str(OUT), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {OUT.relative_to(ROOT)} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
