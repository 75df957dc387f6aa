"""Train the ``face_drawing`` CycleGAN (face photo <-> drawing) and export both directions to ONNX.

``python -m export face-drawing [--out-dir models] [--quick] [--seed 0] [--steps N] [--minutes M]``

writes ``face_drawing.onnx`` (A -> B: photo to drawing), ``face_drawing_BtoA.onnx`` (drawing to
photo), the model card ``face_drawing.md`` and ``face_drawing_sheet.png`` into ``--out-dir``.

Recipe (Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", 2017), scaled down for real time on 2 CPU cores: two ``ResnetGenerator`` s of the
cyclegan family with ``NGF`` filters and ``N_BLOCKS`` residual blocks (chosen by measuring ONNX
Runtime speed on 256 x 256 crops with 2 threads, see ``measure_candidates``), two 3-layer
70 x 70 PatchGAN discriminators with ``NDF`` filters, LSGAN loss, cycle loss ``LAMBDA_CYCLE`` = 10,
identity loss 0.5 x 10, Adam 2e-4 (beta1 0.5) constant for the first half and decayed linearly
to 0 over the second, an image pool of 50 per domain. Training runs on ``TRAIN_SIZE`` crops (the
generator is fully convolutional), evaluation at 256. Data: ``export.data.drawings``.

The trained generators are saved as state dicts in the original CycleGAN layout (``model.N...``)
and exported through ``export.export_model("cyclegan", ...)``, parity check included, exactly as
a user's ``latest_net_G_A.pth`` would be.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamer.model_contract import IMAGE_INPUT

NGF = 12
N_BLOCKS = 4
NDF = 32
TRAIN_SIZE = 128
EVAL_SIZE = 256
BATCH = 4
LAMBDA_CYCLE = 10.0
LAMBDA_IDENTITY = 0.5
LR = 2e-4
POOL = 50
#: Full run: steps (batches of ``BATCH`` per domain) and the wall-clock cap in minutes.
STEPS = 700
MINUTES = 22.0
THREADS = 2
QUICK_STEPS = 6
QUICK_SIZE = 64
#: Candidates of ``measure_candidates`` (ngf, n_blocks).
CANDIDATES = ((8, 3), (8, 6), (12, 4), (16, 4), (16, 6), (32, 9))
NAMES = {"AtoB": "face_drawing.onnx", "BtoA": "face_drawing_BtoA.onnx"}
CARD = "face_drawing.md"
SHEET = "face_drawing_sheet.png"
COMMAND = "python -m export face-drawing --out-dir models"


def _torch():  # noqa: ANN202  (lazy: importing the module must stay cheap)
    import torch

    return torch


def patch_discriminator(ndf: int = NDF, n_layers: int = 3):  # noqa: ANN201
    """The CycleGAN ``NLayerDiscriminator``: a 70 x 70 PatchGAN for 3 layers, instance norm,
    one logit per patch."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2**n, 8)
        stride = 2 if n < n_layers else 1
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1),
            nn.InstanceNorm2d(ndf * mult),
            nn.LeakyReLU(0.2, True),
        ]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
    return nn.Sequential(*layers)


class ImagePool:
    """The CycleGAN history buffer: the discriminator sees half old fakes, half new ones
    (Shrivastava et al. 2017), which damps oscillation."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.images = size, rng, []  # type: ignore[var-annotated]

    def query(self, images):  # noqa: ANN001, ANN201
        torch = _torch()
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.cat(out, 0)


def to_tensor(batch: np.ndarray):  # noqa: ANN201
    """uint8 NHWC -> float NCHW in -1..1 (the cyclegan family's input range)."""
    torch = _torch()
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@dataclass
class TrainLog:
    """What a training run did."""

    steps: int = 0
    planned_steps: int = 0
    seconds: float = 0.0
    stopped_by_time: bool = False
    losses: list[dict[str, float]] = field(default_factory=list)


def train(
    *,
    seed: int,
    steps: int,
    minutes: float,
    size: int = TRAIN_SIZE,
    batch: int = BATCH,
    ngf: int = NGF,
    n_blocks: int = N_BLOCKS,
    threads: int = THREADS,
    stop_after: int | None = None,
    log: Callable[[str], None] = print,
):  # noqa: ANN201
    """Train both generators; returns ``(G_AB, G_BA, TrainLog)`` (modules in eval mode).

    The learning-rate schedule always spans ``steps``; ``stop_after`` ends the run earlier at a
    fixed step (to reproduce a run that the ``minutes`` cap stopped, on any machine).
    """
    torch = _torch()
    from export.data.drawings import DrawingData
    from export.nets.cyclegan import ResnetGenerator

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    data = DrawingData(seed)
    g_ab, g_ba = ResnetGenerator(3, 3, ngf, n_blocks), ResnetGenerator(3, 3, ngf, n_blocks)
    d_a, d_b = patch_discriminator(), patch_discriminator()
    for net in (g_ab, g_ba, d_a, d_b):  # the reference init: normal(0, 0.02)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
                torch.nn.init.zeros_(m.bias)
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=LR, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=LR, betas=(0.5, 0.999))

    def lr_at(step: int) -> float:
        half = steps // 2
        return LR if step < half else LR * (1 - (step - half) / max(1, steps - half))

    pool_a, pool_b = ImagePool(POOL, rng), ImagePool(POOL, rng)
    mse, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
    result = TrainLog(planned_steps=steps)
    t0 = time.perf_counter()
    running: dict[str, float] = {}
    for step in range(steps):
        if stop_after is not None and step >= stop_after:
            break
        if time.perf_counter() - t0 > minutes * 60:
            result.stopped_by_time = True
            log(f"  stopped at step {step}/{steps}: the {minutes:g} min cap was reached")
            break
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        real_a = to_tensor(data.batch("A", start=step * batch, count=batch, size=size))
        real_b = to_tensor(data.batch("B", start=step * batch, count=batch, size=size))
        # generators
        for p in (*d_a.parameters(), *d_b.parameters()):
            p.requires_grad_(False)
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        pred_fb, pred_fa = d_b(fake_b), d_a(fake_a)
        loss_gan = mse(pred_fb, torch.ones_like(pred_fb)) + mse(pred_fa, torch.ones_like(pred_fa))
        loss_cyc = l1(g_ba(fake_b), real_a) + l1(g_ab(fake_a), real_b)
        loss_idt = l1(g_ab(real_b), real_b) + l1(g_ba(real_a), real_a)
        loss_g = loss_gan + LAMBDA_CYCLE * loss_cyc + LAMBDA_CYCLE * LAMBDA_IDENTITY * loss_idt
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # discriminators
        for p in (*d_a.parameters(), *d_b.parameters()):
            p.requires_grad_(True)
        loss_d = 0.0
        for d, real, fake in ((d_a, real_a, pool_a.query(fake_a)), (d_b, real_b, pool_b.query(fake_b))):
            pr, pf = d(real), d(fake.detach())
            loss_d = loss_d + 0.5 * (mse(pr, torch.ones_like(pr)) + mse(pf, torch.zeros_like(pf)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()  # type: ignore[union-attr]
        opt_d.step()
        values = {
            "gan": loss_gan.item(),
            "cycle": loss_cyc.item(),
            "identity": loss_idt.item(),
            "d": loss_d.item(),  # type: ignore[union-attr]
        }
        for k, v in values.items():
            running[k] = running.get(k, 0.0) + v
        result.steps = step + 1
        every = max(1, min(100, steps // 10))
        if (step + 1) % every == 0 or step + 1 == steps:
            n = (step % every) + 1
            mean = {k: v / n for k, v in running.items()}
            result.losses.append({"step": step + 1, **mean})
            running = {}
            el = time.perf_counter() - t0
            log(
                f"  step {step + 1}/{steps}  gan {mean['gan']:.3f}  cycle {mean['cycle']:.3f}  "
                f"identity {mean['identity']:.3f}  D {mean['d']:.3f}  "
                f"({el:.0f} s, {el / (step + 1):.2f} s/step)"
            )
    result.seconds = time.perf_counter() - t0
    return g_ab.eval(), g_ba.eval(), result


# --------------------------------------------------------------------------------------------------
# Measurements


def ort_session(path: Path | str, threads: int = 2):  # noqa: ANN201
    """A CPU ONNX Runtime session with ``threads`` intra-op threads and no spin-waiting (fair CPU time)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session, images: np.ndarray, batch: int = 4) -> np.ndarray:  # noqa: ANN001
    """Run an exported image model on uint8 NHWC ``images``, ``batch`` at a time."""
    outs = [session.run(None, {IMAGE_INPUT: images[i : i + batch]})[0] for i in range(0, len(images), batch)]
    return np.concatenate(outs, 0)


@dataclass
class Speed:
    """Time of one model call on 256 x 256 crops: wall (this machine, now) and process CPU time."""

    batch: int
    wall_ms: float
    cpu_ms: float


def measure_speed(path: Path | str, *, batch: int, threads: int = 2, repeats: int = 10) -> Speed:
    """Median wall ms and mean CPU ms per call of a model on ``batch`` real 256 x 256 face crops."""
    from export.data.drawings import heldout_pairs

    session = ort_session(path, threads)
    crops = heldout_pairs(EVAL_SIZE)[0][:batch]
    for _ in range(2):
        session.run(None, {IMAGE_INPUT: crops})
    walls = []
    c0 = time.process_time()
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {IMAGE_INPUT: crops})
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - c0) / repeats
    return Speed(batch, 1000 * float(np.median(walls)), 1000 * cpu)


def load_average() -> str:
    """The 1-minute load average (other jobs on a shared machine inflate wall times)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def measure_candidates(log: Callable[[str], None] = print) -> list[tuple[int, int, int, Speed, Speed]]:
    """ORT fp32 speed of untrained ``ResnetGenerator`` s for each of ``CANDIDATES`` at 256 x 256 (2 threads).

    Returns rows ``(ngf, n_blocks, parameters, speed batch 1, speed batch 2)``.
    """
    torch = _torch()
    from export.nets.cyclegan import ResnetGenerator
    from export.onnx_io import export_onnx
    from export.wrap import ImageToImage

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ngf, nb in CANDIDATES:
            torch.manual_seed(0)
            net = ResnetGenerator(3, 3, ngf, nb).eval()
            path = Path(tmp) / f"c{ngf}_{nb}.onnx"
            export_onnx(ImageToImage(net, "-1..1"), path, example_hw=(64, 64), dtype=torch.float32)
            s1, s2 = measure_speed(path, batch=1), measure_speed(path, batch=2)
            params = sum(p.numel() for p in net.parameters())
            rows.append((ngf, nb, params, s1, s2))
            log(
                f"  ngf {ngf:2d} blocks {nb}: {params / 1e3:5.0f}k params  1 crop {s1.wall_ms:6.1f} ms wall "
                f"{s1.cpu_ms:6.1f} ms CPU   2 crops {s2.wall_ms:6.1f} ms wall {s2.cpu_ms:6.1f} ms CPU"
            )
    return rows


def saturation(images: np.ndarray) -> float:
    """Mean HSV saturation (0..1) of uint8 RGB images."""
    rgb = images.astype(np.float32)
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    return float(np.mean((mx - mn) / np.maximum(mx, 1.0)))


def edge_density(images: np.ndarray, threshold: float = 40.0) -> float:
    """Fraction of pixels whose luminance gradient (Sobel magnitude) exceeds ``threshold``."""
    import cv2

    vals = []
    for img in images:
        g = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32)
        mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
        vals.append(float(np.mean(mag > threshold)))
    return float(np.mean(vals))


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of uint8 images, as a fraction of 255."""
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))) / 255.0)


def flat_baseline(images: np.ndarray) -> np.ndarray:
    """The trivial reconstruction: each image replaced by its own mean colour."""
    mean = images.astype(np.float32).mean(axis=(1, 2), keepdims=True)
    return np.broadcast_to(np.round(mean), images.shape).astype(np.uint8)


def evaluate(a2b: Path, b2a: Path) -> dict[str, float]:
    """Cycle-consistency and domain statistics on held-out crops at ``EVAL_SIZE``."""
    from export.data.drawings import heldout_pairs

    s_ab, s_ba = ort_session(a2b), ort_session(b2a)
    a, b = heldout_pairs(EVAL_SIZE)
    fake_b = run_onnx(s_ab, a)
    rec_a = run_onnx(s_ba, fake_b)
    fake_a = run_onnx(s_ba, b)
    rec_b = run_onnx(s_ab, fake_a)
    return {
        "cycle_aba": l1(rec_a, a),
        "cycle_bab": l1(rec_b, b),
        "flat_a": l1(flat_baseline(a), a),
        "flat_b": l1(flat_baseline(b), b),
        "change_ab": l1(fake_b, a),
        "change_ba": l1(fake_a, b),
        "edges_a": edge_density(a),
        "edges_fake_b": edge_density(fake_b),
        "edges_b": edge_density(b),
        "n_a": float(len(a)),
        "n_b": float(len(b)),
    }


# --------------------------------------------------------------------------------------------------
# Sheet and card


def sheet_faces(size: int) -> list[tuple[str, np.ndarray]]:
    """Held-out faces for the sheet: LFW photos never trained on, and the people of samples/two_people.mp4
    (that clip is never read by training; Grace Hopper's photo is only seen as drawings)."""
    from export.data.drawings import heldout_photos, plain_crop
    from export.data.faces import clip_crops

    out = [(f"lfw held-out {i}", plain_crop(p, size)) for i, p in enumerate(heldout_photos("A")[:4])]
    for person in ("astronaut", "grace_hopper"):
        crop = clip_crops("two_people", person, 1)[0]
        import cv2

        out.append((person, cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)))
    return out


def make_sheet(a2b: Path, b2a: Path, out: Path, tile: int = 112) -> None:
    """PNG: columns photo | A->B drawing | A->B->A, one row per held-out face; then drawing | B->A rows.

    Colours are cut to 6 bits per channel (invisible here) so the PNG stays well under 400 kB.
    """
    import cv2

    from export.data.drawings import STYLES, draw, heldout_photos, plain_crop

    s_ab, s_ba = ort_session(a2b), ort_session(b2a)
    faces = sheet_faces(EVAL_SIZE)
    photos = np.stack([f for _, f in faces])
    fake_b = run_onnx(s_ab, photos)
    rec_a = run_onnx(s_ba, fake_b)
    drawings = np.stack(
        [draw(plain_crop(p, EVAL_SIZE), STYLES[i % 3]) for i, p in enumerate(heldout_photos("B")[:3])]
    )
    fake_a = run_onnx(s_ba, drawings)
    rec_b = run_onnx(s_ab, fake_a)

    def small(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)

    rows = [np.concatenate([small(x) for x in trio], 1) for trio in zip(photos, fake_b, rec_a, strict=True)]
    rows += [
        np.concatenate([small(x) for x in trio], 1) for trio in zip(drawings, fake_a, rec_b, strict=True)
    ]
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:]
    while len(right) < len(left):
        right.append(np.full_like(left[0], 255))
    gap = np.full((tile * half, 8, 3), 255, np.uint8)
    grid = np.concatenate([np.concatenate(left, 0), gap, np.concatenate(right, 0)], 1)
    grid = (grid & np.uint8(0xFC)) | np.uint8(2)
    cv2.imwrite(str(out), grid[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_card(
    path: Path,
    *,
    seed: int,
    quick: bool,
    batch: int,
    minutes: float,
    log_: TrainLog,
    metrics: dict[str, float],
    speeds: dict[str, Speed],
    candidates: list[tuple[int, int, int, Speed, Speed]],
    sizes: dict[str, int],
    export_notes: list[str],
) -> None:
    """The model card (markdown) with every number this run measured."""
    from export.data import drawings as dd

    m = metrics
    cand = "\n".join(
        f"| {ngf} | {nb} | {p / 1e3:.0f}k | {s1.wall_ms:.1f} | {s1.cpu_ms:.1f} "
        f"| {s2.wall_ms:.1f} | {s2.cpu_ms:.1f} |"
        + (" **chosen** |" if (ngf, nb) == (NGF, N_BLOCKS) else " |")
        for ngf, nb, p, s1, s2 in candidates
    )
    s1, s2 = speeds["b1"], speeds["b2"]
    run_kind = "QUICK smoke run (not the committed model)" if quick else "full run"
    train_px = QUICK_SIZE if quick else TRAIN_SIZE
    stopped = ", stopped by the time cap" if log_.stopped_by_time else ""
    exact = (
        f"\nThis run was stopped by the {minutes:g} min cap at step {log_.steps}; on any machine\n"
        f"`{COMMAND} --stop-after {log_.steps}` trains exactly those steps with the same schedule.\n"
        if log_.stopped_by_time
        else ""
    )
    kb_ab, kb_ba = sizes["AtoB"] / 1e3, sizes["BtoA"] / 1e3
    row_a = (
        f"scikit-image `astronaut` + {dd.A_CLIP_FRAMES} frames of `samples/one_face.mp4`; "
        f"LFW `lfw_subset` faces {dd.LFW_A[0]}–{dd.LFW_A[-1]}"
    )
    row_b = (
        f"matplotlib `grace_hopper` + {dd.A_CLIP_FRAMES} frames of `samples/face_audio.mp4`; "
        f"scikit-image `cameraman`; LFW faces {dd.LFW_B[0]}–{dd.LFW_B[-1]}"
    )
    text = f"""# face_drawing — face photo ↔ drawing CycleGAN

`models/face_drawing.onnx` turns a face crop into a drawing (A → B);
`models/face_drawing_BtoA.onnx` turns a drawing back into a photo-like face (B → A).
Both are cyclegan-family image models (DESIGN 3.2: `image` uint8 NHWC RGB in, `image_out` out,
any size that is a multiple of 4, preferred 256). Use it on faces:

```yaml
  - name: style
    type: translate
    model: models/face_drawing.onnx
    region: faces
```

See `graphs/webcam_stylize.yaml`. This card was written by the training run itself ({run_kind}).

## Reproduce

```
{COMMAND}
```
{exact}
Seed {seed}, `torch.set_num_threads(2)`, CPU only; data and sampling are pure functions of the seed
(`export/data/drawings.py`), so a rerun gives the same batches; float summation order across thread
counts can still change the last bits of the weights. `--quick` is a {QUICK_STEPS}-step smoke test
used by the unit tests.

## Data (nothing downloaded; every photo ships with an installed package)

Unpaired: domain A are real face photos, domain B drawings that classical filters make from photos
of *other* people, so the network never sees a photo with its own drawing.

| role | photos |
|---|---|
| A (photos), trained | {row_a} |
| B (drawings), trained | {row_b} |
| held out, photos | LFW faces {dd.LFW_HELDOUT_A[0]}–{dd.LFW_HELDOUT_A[-1]} |
| held out, drawings | LFW faces {dd.LFW_HELDOUT_B[0]}–{dd.LFW_HELDOUT_B[-1]} |

`samples/two_people.mp4` (the clip of the graph tests) is never read by training. Half of each
domain's samples come from the colour photos, half from the LFW faces (25 × 25 grey tiles,
upscaled 4×). Crops are cut the way the runtime cuts them (`streamer.geometry.crop_matrix`,
margin 0.25, eyes level) with detector-like noise (roll ±15°, box shift/scale, eye noise, 15 %
without eyes), then colour-jittered (saturation, contrast, brightness, white balance, gamma,
light gradient, blur, flip). Drawings: one of three filters per sample, parameters jittered —
OpenCV `pencilSketch`; XDoG (difference of Gaussians with a soft threshold, Winnemöller 2012);
cartoon (bilateral smoothing, colour quantisation, adaptive-threshold edges).

## Recipe

- Generators: cyclegan `ResnetGenerator`, ngf {NGF}, {N_BLOCKS} residual blocks, instance norm,
  {sizes["params"] / 1e3:.0f}k parameters each. Discriminators: 3-layer 70 × 70 PatchGAN, ndf {NDF},
  LSGAN loss.
- Losses: GAN + {LAMBDA_CYCLE:g} × cycle L1 + {LAMBDA_CYCLE * LAMBDA_IDENTITY:g} × identity L1.
  Adam lr {LR:g}, β1 0.5; constant for half the steps, then linear decay to 0. Image pool of {POOL}.
  Init normal(0, 0.02).
- {log_.steps} steps of {batch} + {batch} crops at {train_px} × {train_px}
  (planned {log_.planned_steps}{stopped}).
- Training wall time: **{log_.seconds / 60:.1f} min** on 2 shared CPU cores (other jobs were running).
- Export: the generators were saved as CycleGAN state dicts (`model.N...`) and exported by
  `export.export_model("cyclegan", ...)` with its ONNX-vs-PyTorch parity check.
{"".join(f"  {n}" + chr(10) for n in export_notes)}
## Metrics (held-out crops at {EVAL_SIZE} × {EVAL_SIZE}, ONNX Runtime)

Cycle-consistency error, mean |x − G(F(x))| over {int(m["n_a"])} held-out photos and {int(m["n_b"])} held-out
drawings, in fractions of the 0..255 range:

| | cycle error | trivial baseline (each image → its mean colour) | how far the translation moved the image |
|---|---|---|---|
| A → B → A (photo) | **{_pct(m["cycle_aba"])}** | {_pct(m["flat_a"])} | {_pct(m["change_ab"])} |
| B → A → B (drawing) | **{_pct(m["cycle_bab"])}** | {_pct(m["flat_b"])} | {_pct(m["change_ba"])} |

Edge density (Sobel magnitude > 40): photos {_pct(m["edges_a"])}, their translations
{_pct(m["edges_fake_b"])}, real drawings {_pct(m["edges_b"])}.

Before/after sheet: `models/{SHEET}`: rows of photo | drawing (A → B) | back (A → B → A) for four
held-out LFW faces and the two people of `samples/two_people.mp4`, then drawing | photo (B → A) |
back (B → A → B) for three held-out drawings (pencil, XDoG, cartoon).

## Size and speed

- `face_drawing.onnx` {kb_ab:.0f} kB, `face_drawing_BtoA.onnx` {kb_ba:.0f} kB (fp32).
- ONNX Runtime, CPU, 2 intra-op threads, 256 × 256 crop: **{s1.wall_ms:.1f} ms** wall per crop
  ({s1.cpu_ms:.1f} ms CPU time), {s2.wall_ms:.1f} ms per batch of 2 ({s2.cpu_ms:.1f} ms CPU).
  Measured with the 1-minute load average at {sizes["load"]} on a 2-core machine shared with other
  jobs: the wall times are pessimistic; on 2 idle cores expect about CPU time / 1.7.

Candidates measured before training (untrained nets, same conditions):

| ngf | blocks | params | 1 crop wall ms | CPU ms | 2 crops wall ms | CPU ms | |
|---|---|---|---|---|---|---|---|
{cand}

## Limits

- Trained on very few people: one colour photo identity per domain (the astronaut in A, Grace
  Hopper in B) plus small grey LFW faces. Other skin tones, lighting, glasses, beards, profiles and
  large crops of webcam quality are out of distribution; expect artefacts.
- The drawing domain is a mix of three filters; A → B produces a blend of their looks (grey, inked
  edges, flattened tones), not one clean style, and it can hallucinate hatching on smooth skin.
- B → A has to invent colour from a grey drawing; it mostly learnt the astronaut's skin and
  background tones and is a demonstration of the cycle, not a useful colouriser.
- The cycle error is low partly because CycleGAN generators hide information in low-amplitude
  patterns (Chu et al. 2017); the number shows reconstruction, not drawing quality.
"""
    path.write_text(text)


# --------------------------------------------------------------------------------------------------
# Command line


def _save_checkpoint(net, path: Path) -> None:  # noqa: ANN001
    """The generator as the reference code saves it: a plain state dict with ``model.N...`` keys."""
    torch = _torch()
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, path)


def main(argv: list[str] | None = None) -> int:
    """``python -m export face-drawing``: train, export both directions, evaluate, write card and sheet."""
    p = argparse.ArgumentParser(prog="python -m export face-drawing", description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="models", help="folder for the ONNX files, card and sheet")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps at {QUICK_SIZE} px (tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help=f"training steps (default {STEPS}, quick {QUICK_STEPS})")
    p.add_argument("--minutes", type=float, default=MINUTES, help="wall-clock cap on training (minutes)")
    p.add_argument(
        "--stop-after", type=int, help="end training at this step (the schedule still spans --steps)"
    )
    p.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads (default 2)")
    p.add_argument(
        "--skip-candidates", action="store_true", help="skip measuring the candidate architectures"
    )
    args = p.parse_args(argv)
    # libgomp spin-waits by default: with 2 threads on 2 cores shared with other jobs a training step
    # took 5x longer (measured). Only effective when torch is not imported yet (python -m export).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from export.errors import ExportError
    from export.exporter import export_model

    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise ExportError(f"--out-dir {out_dir} does not exist: create it first")
    log = print
    candidates = []
    if not args.quick and not args.skip_candidates:
        log(f"speed of candidate generators (ORT, 2 threads, 256x256, load {load_average()}):")
        candidates = measure_candidates(log)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    size = QUICK_SIZE if args.quick else TRAIN_SIZE
    batch = 2 if args.quick else BATCH
    log(f"training face_drawing: ngf {NGF}, {N_BLOCKS} blocks, {steps} steps of {batch} crops at {size} px")
    g_ab, g_ba, tlog = train(
        seed=args.seed,
        steps=steps,
        minutes=args.minutes,
        size=size,
        batch=batch,
        threads=args.threads,
        stop_after=args.stop_after,
        log=log,
    )
    paths = {k: out_dir / v for k, v in NAMES.items()}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, net in (("AtoB", g_ab), ("BtoA", g_ba)):
            ckpt = Path(tmp) / f"latest_net_G_{key[0]}.pth"
            _save_checkpoint(net, ckpt)
            sizes_parity = [(64, 64), (36, 60)] if args.quick else None
            res = export_model("cyclegan", ckpt, paths[key], parity_sizes=sizes_parity, log=log)
            notes.append(f"{paths[key].name}: parity {res.parity}")
    metrics = evaluate(paths["AtoB"], paths["BtoA"])
    log(
        f"cycle error A->B->A {_pct(metrics['cycle_aba'])} (flat baseline {_pct(metrics['flat_a'])}), "
        f"B->A->B {_pct(metrics['cycle_bab'])} (flat baseline {_pct(metrics['flat_b'])})"
    )
    load = load_average()
    speeds = {"b1": measure_speed(paths["AtoB"], batch=1), "b2": measure_speed(paths["AtoB"], batch=2)}
    log(f"speed: 1 crop {speeds['b1'].wall_ms:.1f} ms wall ({speeds['b1'].cpu_ms:.1f} ms CPU), load {load}")
    make_sheet(paths["AtoB"], paths["BtoA"], out_dir / SHEET)
    sizes = {
        "AtoB": paths["AtoB"].stat().st_size,
        "BtoA": paths["BtoA"].stat().st_size,
        "params": sum(int(t.numel()) for t in g_ab.parameters()),
        "load": load,  # type: ignore[dict-item]
    }
    write_card(
        out_dir / CARD,
        seed=args.seed,
        quick=args.quick,
        batch=batch,
        minutes=args.minutes,
        log_=tlog,
        metrics=metrics,
        speeds=speeds,
        candidates=candidates,
        sizes=sizes,
        export_notes=notes,
    )
    log(f"wrote {', '.join(str(x) for x in (*paths.values(), out_dir / CARD, out_dir / SHEET))}")
    return 0 if math.isfinite(metrics["cycle_aba"]) else 1
