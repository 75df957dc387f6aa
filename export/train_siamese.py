"""``python -m export siamese [--out models/embedder.onnx] [--quick] [--seed 0]``: train, export.

Recipe (FaceNet): batches of P identities x K samples from ``export.data.faces.FaceData``; the
net's 128-d embeddings are L2-normalised; triplet loss with margin 0.2 on squared distances,
where every (anchor, positive) pair of a batch takes its semi-hard negative (the closest
negative farther than the positive; the farthest negative when there is none). AdamW with a
short warm-up and cosine decay. Everything is seeded (torch, numpy, random) and runs on two CPU
threads, so a run is reproducible on the same machine.

Then, on identities never trained on (synthetic and LFW), it measures ROC AUC and TAR at
FAR = 1 % over all genuine and impostor pairs, picks the cosine-distance threshold at FAR = 1 %,
checks it on crops from the sample clips (astronaut frames vs the astronaut photo: genuine;
Grace Hopper frames vs the astronaut photo: impostor), exports ``image`` uint8 [N, 112, 112, 3]
-> ``embedding`` float32 [N, 128] with its metadata, runs ``onnx.checker`` and an ONNX Runtime vs
PyTorch parity check on real crops, and only then renames the file into place.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from export.data.faces import FaceData, Identity, astronaut_photo, clip_crops, photo_crop
from export.errors import ExportError
from export.nets.siamese import EMBEDDING_DIM, INPUT_SIZE, EmbedNet, EmbedWrapper, to_input
from export.training import check_out, seed_everything, seeded_trainer_main
from streamer.model_contract import EMBEDDING_OUTPUT, IMAGE_INPUT, TASK_EMBEDDING, ModelMetadata

MARGIN = 0.2
TARGET_FAR = 0.01
PARITY_ATOL = 1e-4
OUTPUT_NAME = EMBEDDING_OUTPUT


@dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters; ``quick`` is a tiny run for tests (it learns little)."""

    steps: int = 600
    p: int = 24  # identities per batch
    k: int = 4  # samples per identity
    real_per_batch: int = 8  # of the P identities, how many are real photos
    lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup: int = 20
    steps_per_epoch: int = 25
    n_synthetic: int = 4000
    n_heldout: int = 300
    lfw_heldout: int = 30
    eval_k: int = 4
    pool_per_identity: int = 300  # detector crops precomputed per real training identity
    pool_per_small: int = 100  # ... per LFW face (70 of them, 100 x 100 px photos)
    pool_share: float = 0.5  # share of real-identity samples taken from those crops

    @staticmethod
    def quick() -> Recipe:
        return Recipe(
            steps=12,
            p=8,
            k=3,
            real_per_batch=3,
            warmup=2,
            steps_per_epoch=4,
            n_synthetic=200,
            n_heldout=24,
            lfw_heldout=6,
            eval_k=3,
            pool_per_identity=3,
            pool_per_small=2,
        )


@dataclass
class Report:
    """What a run measured; the model card is written from it."""

    seed: int
    recipe: dict
    params: int
    train_seconds: float
    auc: float = 0.0
    tar_at_far1: float = 0.0
    threshold: float = 0.0
    heldout: dict = field(default_factory=dict)
    clip: dict = field(default_factory=dict)
    detector: dict | None = None
    parity_max_abs: float = 0.0
    parity_min_cos: float = 0.0
    ms_per_crop: float = 0.0
    ms_per_batch4: float = 0.0
    size_bytes: int = 0
    embedder_id: str = ""


# --------------------------------------------------------------------------------------------------
# Loss


def semihard_triplet_loss(
    emb: torch.Tensor, labels: torch.Tensor, margin: float = MARGIN
) -> tuple[torch.Tensor, float]:
    """FaceNet triplet loss with in-batch semi-hard negatives; returns (loss, fraction of active triplets).

    ``emb`` is L2-normalised; distances are squared Euclidean (0..4). For every ordered pair of
    samples of one identity (anchor a, positive p) the negative is the closest n with
    d(a, n) > d(a, p) (semi-hard); when every negative is closer than p, the farthest one.
    """
    d = (2.0 - 2.0 * emb @ emb.T).clamp_min(0.0)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos = same & ~eye
    a_idx, p_idx = pos.nonzero(as_tuple=True)
    d_ap = d[a_idx, p_idx]
    d_an = d[a_idx]  # [pairs, N]
    neg = ~same[a_idx]
    big = torch.finfo(d.dtype).max
    outside = neg & (d_an > d_ap[:, None])
    semi = torch.where(outside, d_an, torch.full_like(d_an, big)).min(1).values
    hardest_inside = torch.where(neg, d_an, torch.full_like(d_an, -1.0)).max(1).values
    chosen = torch.where(outside.any(1), semi, hardest_inside)
    losses = torch.relu(d_ap - chosen + margin)
    return losses.mean(), float((losses > 0).float().mean())


# --------------------------------------------------------------------------------------------------
# Batches (a Dataset whose item is a whole P x K batch, so a worker process can build them)


class Batches(torch.utils.data.Dataset):
    """Batch ``step`` of a run: P identities (``real_per_batch`` of them real) x K samples each.

    The identities and sample indices depend only on ``(seed, step)``, so a run is the same with or
    without a worker process.
    """

    def __init__(self, data: FaceData, recipe: Recipe) -> None:
        self.data, self.r = data, recipe

    def __len__(self) -> int:
        return self.r.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        r, data = self.r, self.data
        rng = np.random.default_rng([data.seed, 3, step])
        real = rng.choice(len(data.train_real), min(r.real_per_batch, len(data.train_real)), replace=False)
        syn = rng.choice(len(data.train_synthetic), r.p - len(real), replace=False)
        idents = [data.train_real[i] for i in real] + [data.train_synthetic[i] for i in syn]
        start = int(rng.integers(0, 1 << 30))  # fresh sample indices each time an identity is drawn
        images = data.batch(idents, r.k, start)
        labels = np.repeat(np.arange(len(idents)), r.k)
        return torch.from_numpy(images), torch.from_numpy(labels)


def train(data: FaceData, recipe: Recipe, seed: int, log: Callable[[str], None] = print) -> EmbedNet:
    """Train an ``EmbedNet`` on ``data.train`` following ``recipe``; one log line per epoch."""
    seed_everything(seed)
    net = EmbedNet()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)

    def lr_at(step: int) -> float:
        if step < recipe.warmup:
            return (step + 1) / recipe.warmup
        t = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    loader = torch.utils.data.DataLoader(
        Batches(data, recipe),
        batch_size=None,
        shuffle=False,
        num_workers=1,
        prefetch_factor=2,
        persistent_workers=False,
    )
    net.train()
    t0 = time.monotonic()
    losses: list[float] = []
    active: list[float] = []
    for step, (images, labels) in enumerate(loader):
        emb = net(to_input(images))
        loss, frac = semihard_triplet_loss(emb, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        active.append(frac)
        if (step + 1) % recipe.steps_per_epoch == 0 or step + 1 == recipe.steps:
            epoch = (step + 1 + recipe.steps_per_epoch - 1) // recipe.steps_per_epoch
            log(
                f"epoch {epoch:2d}  step {step + 1:4d}/{recipe.steps}  loss {np.mean(losses):.4f}  "
                f"active triplets {100 * np.mean(active):4.1f}%  lr {sched.get_last_lr()[0]:.2e}  "
                f"{time.monotonic() - t0:6.1f} s"
            )
            losses, active = [], []
    net.eval()
    return net


# --------------------------------------------------------------------------------------------------
# Evaluation


def embed(net: torch.nn.Module, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Embeddings of uint8 NHWC crops with the PyTorch net (eval mode)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(net(to_input(torch.from_numpy(np.ascontiguousarray(images[i : i + batch])))).numpy())
    return np.concatenate(out)


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a random genuine pair is closer than a random impostor pair (ties count half)."""
    scores = np.concatenate([genuine, impostor])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    r_gen = ranks[: len(genuine)].sum()
    n_g, n_i = len(genuine), len(impostor)
    # genuine should have SMALL distances: AUC = P(d_gen < d_imp)
    return float(1.0 - (r_gen - n_g * (n_g + 1) / 2) / (n_g * n_i))


def pair_distances(emb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances of all genuine pairs and all impostor pairs (i < j)."""
    d = 1.0 - emb @ emb.T
    iu = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    return d[iu][same], d[iu][~same]


def evaluate_heldout(
    net: torch.nn.Module, data: FaceData, k: int, idents: list[Identity] | None = None
) -> dict[str, float]:
    """AUC, TAR at FAR 1 % and the FAR-1 % threshold on held-out identities (samples 10_000+)."""
    idents = idents if idents is not None else data.heldout
    images = data.batch(idents, k, start=10_000)
    labels = np.repeat(np.arange(len(idents)), k)
    gen, imp = pair_distances(embed(net, images), labels)
    thr = float(np.quantile(imp, TARGET_FAR))
    return {
        "identities": len(idents),
        "genuine_pairs": len(gen),
        "impostor_pairs": len(imp),
        "auc": roc_auc(gen, imp),
        "tar_at_far1": float((gen < thr).mean()),
        "threshold_far1": thr,
        "genuine_median": float(np.median(gen)),
        "impostor_median": float(np.median(imp)),
    }


def evaluate_clips(net: torch.nn.Module, frames: int = 12) -> dict[str, float]:
    """Distances from the astronaut photo crop to astronaut and Grace Hopper crops of the sample clips."""
    ref = embed(net, photo_crop(astronaut_photo())[None])[0]
    out: dict[str, float] = {}
    for name, stem, person in (
        ("genuine_two_people", "two_people", "astronaut"),
        ("genuine_one_face", "one_face", "astronaut"),
        ("impostor_two_people", "two_people", "grace_hopper"),
        ("impostor_face_audio", "face_audio", "grace_hopper"),
    ):
        d = 1.0 - embed(net, np.stack(clip_crops(stem, person, frames))) @ ref
        out[f"{name}_min"], out[f"{name}_max"] = float(d.min()), float(d.max())
    return out


def evaluate_detector(
    embed_fn: Callable[[np.ndarray], np.ndarray], threshold: float, step: int = 2
) -> dict[str, float] | None:
    """The runtime's view of the sample clip: BlazeFace boxes and eyes, not the truth, make the crops.

    The astronaut is enrolled from her photo (detector crop), then every ``step``-th frame of
    samples/two_people.mp4 is detected; faces are told apart by the truth boxes (IoU >= 0.5).
    Returns the share of each person's detected faces within ``threshold`` of the enrolled
    astronaut and the median distances, or None when the detector is not available.
    """

    import av

    from export.data.faces import SAMPLES, SIZE
    from streamer.geometry import aligned_crop, eyes_of

    try:
        from streamer.faces.detect import FaceDetector

        det = FaceDetector()
    except Exception:  # noqa: BLE001  (no MediaPipe or no detector model here: skip this check)
        return None

    def crops(image: np.ndarray) -> tuple[list, np.ndarray]:
        faces = det.detect(image)
        if not faces:
            return [], np.zeros((0, SIZE, SIZE, 3), np.uint8)
        cut = [aligned_crop(image, f.box, SIZE, margin=0.25, eyes=eyes_of(f.keypoints))[0] for f in faces]
        return faces, np.stack(cut)

    def iou(a: list[float], b: list[float]) -> float:
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
        return ix * iy / union if union > 0 else 0.0

    try:
        _, ref_crop = crops(astronaut_photo().image)
        if not len(ref_crop):
            return None
        ref = embed_fn(ref_crop[:1])[0]
        truth = json.loads((SAMPLES / "two_people.faces.json").read_text())["frames"]
        dist: dict[str, list[float]] = {"astronaut": [], "grace_hopper": []}
        with av.open(str(SAMPLES / "two_people.mp4")) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % step:
                    continue
                faces, cut = crops(frame.to_ndarray(format="rgb24"))
                if not faces:
                    continue
                d = 1.0 - embed_fn(cut) @ ref
                for face, di in zip(faces, d, strict=True):
                    for t in truth[i]["faces"]:
                        if iou(list(face.box), t["box"]) >= 0.5:
                            dist[t["person"]].append(float(di))
    finally:
        det.close()
    a, g = np.array(dist["astronaut"]), np.array(dist["grace_hopper"])
    return {
        "astronaut_faces": len(a),
        "astronaut_identified": float((a < threshold).mean()) if len(a) else 0.0,
        "astronaut_median": float(np.median(a)) if len(a) else float("nan"),
        "astronaut_max": float(a.max()) if len(a) else float("nan"),
        "hopper_faces": len(g),
        "hopper_as_astronaut": float((g < threshold).mean()) if len(g) else 0.0,
        "hopper_median": float(np.median(g)) if len(g) else float("nan"),
        "hopper_min": float(g.min()) if len(g) else float("nan"),
    }


# --------------------------------------------------------------------------------------------------
# Export


def _weights_id(model) -> str:  # noqa: ANN001
    h = hashlib.sha256()
    for init in sorted(model.graph.initializer, key=lambda t: t.name):
        h.update(init.raw_data)
    return h.hexdigest()[:16]


def export(
    net: EmbedNet, out: Path, metadata: ModelMetadata, parity_crops: np.ndarray, report: Report
) -> None:
    """Export ``net`` wrapped to ``out`` (temp file + rename) after onnx.checker and the parity check."""

    import onnx

    from export.onnx_io import crop_speed, export_crop_onnx, ort_session, set_metadata

    wrapper = EmbedWrapper(net).eval()
    example = torch.from_numpy(parity_crops[:2])
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        path = Path(tmp) / "embedder.onnx"
        export_crop_onnx(wrapper, example, path, OUTPUT_NAME)
        report.embedder_id = _weights_id(onnx.load(str(path)))
        set_metadata(path, metadata.replace(embedder_id=report.embedder_id))  # + onnx.checker
        session = ort_session(path, threads=2)
        got = session.run([OUTPUT_NAME], {IMAGE_INPUT: parity_crops})[0]
        with torch.no_grad():
            want = wrapper(torch.from_numpy(parity_crops)).numpy()
        report.parity_max_abs = float(np.abs(got - want).max())
        report.parity_min_cos = float((got * want).sum(1).min())
        if got.shape != (len(parity_crops), EMBEDDING_DIM) or not (
            report.parity_max_abs < PARITY_ATOL or report.parity_min_cos > 0.9999
        ):
            raise ExportError(
                f"parity check failed, nothing written: max |ORT - PyTorch| {report.parity_max_abs:.2e}, "
                f"min cosine {report.parity_min_cos:.6f} (need < {PARITY_ATOL:g} or > 0.9999)"
            )
        report.ms_per_crop, report.ms_per_batch4 = crop_speed(session, parity_crops, OUTPUT_NAME, 200)
        os.replace(path, out)
    report.size_bytes = out.stat().st_size


# --------------------------------------------------------------------------------------------------
# Command line


def run(out: Path, *, seed: int = 0, quick: bool = False, log: Callable[[str], None] = print) -> Report:
    """Train, evaluate and export to ``out``; returns the measurements."""
    torch.set_num_threads(2)
    out = check_out(out)
    recipe = Recipe.quick() if quick else Recipe()
    data = FaceData(
        seed, n_synthetic=recipe.n_synthetic, n_heldout=recipe.n_heldout, lfw_heldout=recipe.lfw_heldout
    )
    log(
        f"siamese: seed {seed}, {'quick' if quick else 'full'} run: {recipe.steps} steps of "
        f"{recipe.p}x{recipe.k}; train identities {len(data.train_real)} real + {len(data.train_synthetic)} "
        f"synthetic; held out {len(data.heldout)}"
    )
    t0 = time.monotonic()
    if recipe.pool_per_identity:
        data.build_pools(
            recipe.pool_per_identity, share=recipe.pool_share, per_small=recipe.pool_per_small, log=log
        )
    net = train(data, recipe, seed, log)
    report = Report(seed, asdict(recipe), sum(p.numel() for p in net.parameters()), time.monotonic() - t0)
    h = evaluate_heldout(net, data, recipe.eval_k)
    report.heldout = h
    report.auc, report.tar_at_far1, report.threshold = h["auc"], h["tar_at_far1"], h["threshold_far1"]
    syn = [i for i in data.heldout if i.kind == "synthetic"]
    lfw = [i for i in data.heldout if i.kind == "real"]
    report.heldout["synthetic"] = evaluate_heldout(net, data, recipe.eval_k, syn)
    report.heldout["lfw"] = evaluate_heldout(net, data, recipe.eval_k, lfw)
    log(
        f"held out ({h['identities']} identities): ROC AUC {h['auc']:.4f}, TAR@FAR1% {h['tar_at_far1']:.3f}, "
        f"threshold (cosine distance at FAR 1%) {h['threshold_far1']:.3f}"
    )
    report.clip = evaluate_clips(net, frames=4 if quick else 12)
    c = report.clip
    log(
        "sample clips vs the astronaut photo: genuine max "
        f"{max(c['genuine_two_people_max'], c['genuine_one_face_max']):.3f}, "
        f"impostor min {min(c['impostor_two_people_min'], c['impostor_face_audio_min']):.3f}"
    )
    report.detector = evaluate_detector(lambda x: embed(net, x), report.threshold, step=4 if quick else 2)
    if report.detector:
        dd = report.detector
        log(
            "two_people.mp4 with BlazeFace crops, astronaut enrolled from her photo: astronaut identified "
            f"on {100 * dd['astronaut_identified']:.1f}% of {dd['astronaut_faces']} faces (median distance "
            f"{dd['astronaut_median']:.3f}), grace_hopper taken for her on "
            f"{100 * dd['hopper_as_astronaut']:.1f}% of {dd['hopper_faces']} "
            f"(median {dd['hopper_median']:.3f})"
        )
    metadata = ModelMetadata(
        family="siamese",
        task=TASK_EMBEDDING,
        embedding_dim=EMBEDDING_DIM,
        threshold=round(report.threshold, 4),
        distance="cosine",
        preferred_size=INPUT_SIZE,
        input_size=INPUT_SIZE,
        size_multiple=1,
        input_range="0..255",
        margin=0.25,
        alignment="eyes level (streamer.geometry.aligned_crop, margin 0.25)",
        source=f"trained by python -m export siamese, seed {seed}" + (" (--quick)" if quick else ""),
    )
    parity_crops = np.stack(
        [photo_crop(astronaut_photo())]
        + clip_crops("two_people", "grace_hopper", 3)
        + list(data.batch(data.heldout[:4], 1, start=20_000))
    )
    export(net, out, metadata, parity_crops, report)
    log(
        f"parity ORT vs PyTorch: max abs {report.parity_max_abs:.2e}, "
        f"min cosine {report.parity_min_cos:.7f}; "
        f"speed (ORT, 2 threads) {report.ms_per_crop:.2f} ms/crop, {report.ms_per_batch4:.2f} ms/batch of 4"
    )
    log(
        f"wrote {out} ({report.size_bytes / 1e6:.2f} MB, {report.params} parameters, id {report.embedder_id})"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m export siamese ...`` (called by export/__main__.py)."""
    return seeded_trainer_main(
        argv,
        command="siamese",
        description=__doc__.splitlines()[0],
        default_out="models/embedder.onnx",
        quick_help="a tiny run (about a minute) for tests",
        run=run,
    )
