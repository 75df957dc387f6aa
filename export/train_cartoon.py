"""Train the fast-style ``TransformerNet`` to imitate a classical cartoon filter; export it to ONNX.

``python -m export cartoon [--out models/cartoon.onnx] [--int8-out models/cartoon_int8.onnx]
[--quick] [--seed 0] [--steps N] [--minutes M]``

Why a supervised imitation and not a neural style transfer: it needs no artwork, no VGG weights
and no download, it trains in minutes on a laptop CPU, and it has a ground truth, so the model's
quality is a number (PSNR against the filter on held-out photos) instead of a matter of taste.

The target filter (``cartoon_filter``) follows Winnemöller et al., "Real-Time Video Abstraction"
(SIGGRAPH 2006): iterated bilateral filtering in Lab, soft luminance quantisation, dark
difference-of-Gaussians edges, plus a saturation boost. It starts with ``auto_levels``: the
TransformerNet normalises its first conv's output per image (instance norm), so its output cannot
depend on a global brightness or contrast change, or a per-channel offset, of its input (checked:
``net(x) == net(a*x + b)``); a target that depended on them could not be learnt, so the filter
removes them first (grey-world means, fixed contrast).

Data: the photos that ship with scikit-image and matplotlib plus frames of ``samples/*.mp4``
(nothing downloaded); ``HELDOUT`` photos are never trained on and give the reported metrics.
Random crops, flips, gamma / saturation / white-balance jitter; the filter runs on each jittered
crop, exactly as the network sees it. Loss: L1 plus a small L1 on image gradients (edges).

The trained weights are saved as a state dict in the original fast_neural_style layout and go
through the same ``export_model("fast-style", ...)`` path (and parity check) as users' checkpoints.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
#: Photos kept out of training; the metrics in models/cartoon.md are measured on them.
HELDOUT = ("rocket", "stereo_motorcycle")
#: Colour means and contrast ``auto_levels`` maps every image to (a warm, paper-like grey).
LEVEL_MEAN = (128.0, 122.0, 114.0)
LEVEL_STD = 56.0
#: Long side of the evaluation images: the size graphs/file_cartoon.yaml runs the model at.
EVAL_SIZE = 360


def auto_levels(rgb: np.ndarray) -> np.ndarray:
    """Float32 RGB with each channel's mean moved to ``LEVEL_MEAN`` and the contrast set to ``LEVEL_STD``.

    Invariant to ``a * rgb + b`` (a > 0), like the network; flat images are not amplified past 14x.
    """
    f = rgb.astype(np.float32)
    f -= f.mean(axis=(0, 1), dtype=np.float64).astype(np.float32)
    s = max(float(np.sqrt(np.mean(f * f, dtype=np.float64))), 4.0)
    return np.clip(f * np.float32(LEVEL_STD / s) + np.asarray(LEVEL_MEAN, np.float32), 0.0, 255.0)


def cartoon_filter(rgb: np.ndarray) -> np.ndarray:
    """The classical cartoon filter the network imitates: uint8 RGB ``HxWx3`` in, same out."""
    import cv2

    lab = cv2.cvtColor(auto_levels(rgb) / np.float32(255.0), cv2.COLOR_RGB2Lab)
    edge_src = None
    for i in range(3):  # iterated bilateral: flattens regions, keeps their borders
        lab = cv2.bilateralFilter(lab, 7, 7.0, 3.0)
        if i == 0:
            edge_src = lab[..., 0].copy()
    assert edge_src is not None
    # difference of Gaussians on the lightly smoothed luminance: dark lines where D < 0
    d = cv2.GaussianBlur(edge_src, (0, 0), 1.0) - 0.98 * cv2.GaussianBlur(edge_src, (0, 0), 1.6)
    edge = np.where(d > 0, np.float32(1.0), 1.0 + np.tanh(0.5 * d)).astype(np.float32)
    lum = lab[..., 0]
    step = np.float32(100.0 / 8)  # 8 soft luminance levels
    nearest = np.round(lum / step) * step
    lab[..., 0] = (nearest + step / 2 * np.tanh(0.25 * (lum - nearest))) * edge
    lab[..., 1:] *= np.float32(1.3)
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3])


def photos(split: str = "train") -> list[tuple[str, np.ndarray]]:
    """Named RGB photos from installed packages (and sample-clip frames for ``train``)."""
    import warnings

    import matplotlib
    from skimage import data

    if split == "heldout":
        motorcycle = data.stereo_motorcycle()[0]
        return [("rocket", _rgb(data.rocket())), ("stereo_motorcycle", _rgb(motorcycle))]
    names = ["astronaut", "chelsea", "coffee", "camera", "immunohistochemistry", "hubble_deep_field"]
    names += ["coins", "clock", "moon", "brick", "grass", "gravel"]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            out.append((n, _rgb(getattr(data, n)())))
    import cv2

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    out.append(("grace_hopper", cv2.cvtColor(cv2.imread(str(hopper)), cv2.COLOR_BGR2RGB)))
    from export.frames import video_frames

    for clip in sorted(SAMPLES.glob("*.mp4")):
        for i, f in enumerate(video_frames(clip, 3)):
            out.append((f"{clip.stem}#{i}", f))
    return out


def resize_long(image: np.ndarray, long_side: int, multiple: int = 1) -> np.ndarray:
    """``image`` scaled so its longer side is ``long_side`` (sides rounded to ``multiple``)."""
    import cv2

    h, w = image.shape[:2]
    s = long_side / max(h, w)
    nh, nw = (
        max(multiple, round(h * s / multiple) * multiple),
        max(multiple, round(w * s / multiple) * multiple),
    )
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp)


class Crops:
    """Random jittered crops of the training photos and the filter's output for each."""

    def __init__(self, images: list[np.ndarray], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        # a few scales per photo so that detail sizes cover those of frames run at 256..512
        self.pyramid = [resize_long(im, s) for im in images for s in (256, 384, 512)]

    def _jitter(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        rng = self.rng
        f = crop.astype(np.float32) / 255.0
        f = f ** np.float32(rng.uniform(0.7, 1.4))  # gamma
        f *= rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # white balance
        grey = f.mean(axis=2, keepdims=True)
        f = grey + (f - grey) * np.float32(rng.uniform(0.6, 1.4))  # saturation
        out = np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        if rng.random() < 0.3:  # compression-like softness, as in decoded video
            out = cv2.GaussianBlur(out, (0, 0), 0.6)
        return np.ascontiguousarray(out)

    def batch(self, size: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` crops of ``size`` px and their targets, uint8 ``NxHxWx3`` each."""
        xs, ys = [], []
        while len(xs) < count:
            im = self.pyramid[int(self.rng.integers(len(self.pyramid)))]
            h, w = im.shape[:2]
            if h < size or w < size:
                continue
            y0, x0 = int(self.rng.integers(h - size + 1)), int(self.rng.integers(w - size + 1))
            crop = self._jitter(im[y0 : y0 + size, x0 : x0 + size])
            xs.append(crop)
            ys.append(cartoon_filter(crop))
        return np.stack(xs), np.stack(ys)


def _to_tensor(batch: np.ndarray):  # noqa: ANN202
    import torch

    return torch.from_numpy(batch).permute(0, 3, 1, 2).float()


def train(
    *,
    steps: int,
    minutes: float,
    seed: int,
    batch: int = 4,
    sizes: tuple[int, ...] = (128, 144, 160),
    lr: float = 2e-3,
    log_every: int = 20,
    log: Callable[[str], None] = print,
):  # noqa: ANN201
    """A trained ``TransformerNet`` (eval mode) and a dict of training facts.

    Runs ``steps`` Adam steps with a cosine learning rate, or fewer if ``minutes`` of wall time
    run out first (the schedule then follows the elapsed time, and the log says so).
    """
    import torch
    from torch.nn import functional as F

    from export.nets.fast_style import TransformerNet

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    data = Crops([im for _, im in photos("train")], seed)
    net = TransformerNet()
    with torch.no_grad():  # start at the filter's mean colour instead of 0 (saves early steps)
        net.deconv3.conv2d.bias.copy_(torch.tensor(LEVEL_MEAN))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t0 = time.perf_counter()
    budget = 60.0 * minutes
    step, running, progress = 0, 0.0, 0.0
    net.train()
    while progress < 1.0:
        size = sizes[step % len(sizes)]
        x_np, y_np = data.batch(size, batch)
        x, y = _to_tensor(x_np), _to_tensor(y_np)
        for g in opt.param_groups:
            g["lr"] = 0.02 * lr + 0.98 * lr * 0.5 * (1 + math.cos(math.pi * progress))
        out = net(x)
        loss_pix = F.l1_loss(out, y)
        dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
        dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
        loss_edge = F.l1_loss(dx(out), dx(y)) + F.l1_loss(dy(out), dy(y))
        loss = loss_pix + 0.5 * loss_edge
        opt.zero_grad(set_to_none=True)
        (loss / 255.0).backward()
        opt.step()
        step += 1
        running += loss_pix.item()
        elapsed = time.perf_counter() - t0
        progress = max(step / steps, elapsed / budget)
        if step % log_every == 0 or progress >= 1.0:
            n = step % log_every or log_every
            log(
                f"step {step:4d}/{steps}  L1 {running / n:6.2f} levels  "
                f"lr {opt.param_groups[0]['lr']:.1e}  {elapsed:5.0f} s"
            )
            running = 0.0
    elapsed = time.perf_counter() - t0
    if step < steps:
        log(f"time budget of {minutes:g} min reached after {step} of {steps} steps")
    net.eval()
    return net, {"steps": step, "seconds": elapsed, "batch": batch, "sizes": sizes, "lr": lr, "seed": seed}


def save_checkpoint(net, path: Path) -> None:  # noqa: ANN001
    """The state dict in the original fast_neural_style key layout (what ``torch.save`` gives)."""
    import torch

    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, path)


def evaluate(onnx_path: Path, images: list[tuple[str, np.ndarray]], long_side: int = EVAL_SIZE) -> dict:
    """L1 and PSNR of the ONNX model and of the untouched input against the filter, per image."""
    from export.onnx_io import INPUT_NAME, OUTPUT_NAME, ort_session, psnr

    session = ort_session(onnx_path, threads=2)
    rows = {}
    for name, im in images:
        x = resize_long(im, long_side, 4)
        want = cartoon_filter(x)
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x[None]})[0][0]
        l1 = float(np.mean(np.abs(got.astype(np.float32) - want)))
        rows[name] = {"l1": l1, "psnr": psnr(got, want), "input_psnr": psnr(x, want)}
    return rows


def before_after(onnx_path: Path, out_png: Path, width: int = 200) -> None:
    """A small sheet (< 300 KB): frames of three sample clips and a held-out photo, input | model | filter."""
    from PIL import Image

    from export.frames import video_frames
    from export.onnx_io import INPUT_NAME, OUTPUT_NAME, ort_session

    session = ort_session(onnx_path, threads=2)
    clips = [SAMPLES / f"{n}.mp4" for n in ("face_audio", "two_people", "no_face")]
    pics = [video_frames(c, 1)[0] for c in clips if c.exists()] + [photos("heldout")[1][1]]
    rows = []
    for im in pics:
        x = resize_long(im, EVAL_SIZE, 4)
        y = session.run([OUTPUT_NAME], {INPUT_NAME: x[None]})[0][0]
        row = [resize_long(p, width) for p in (x, y, cartoon_filter(x))]
        h = min(r.shape[0] for r in row)
        rows.append(np.hstack([r[:h] for r in row]))
    w = min(r.shape[1] for r in rows)
    sheet = Image.fromarray(np.vstack([r[:, :w] for r in rows]))
    sheet.quantize(256, dither=Image.Dither.NONE).save(out_png, optimize=True)  # a palette keeps it small


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like ``python -m export``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see python -m export cartoon --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m export cartoon",
        description="Train a fast-style TransformerNet to imitate a cartoon filter; export it.",
    )
    p.add_argument(
        "--out", default="models/cartoon.onnx", help="fp32 ONNX output (default models/cartoon.onnx)"
    )
    p.add_argument(
        "--int8-out", help="also write a static int8 variant here (calibrated on samples/one_face.mp4)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a few steps on small crops: checks the path in ~30 s"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights and crops (default 0)")
    p.add_argument("--steps", type=int, help="Adam steps (default 360, 6 with --quick)")
    p.add_argument("--minutes", type=float, help="wall-time cap of training (default 14, 0.5 with --quick)")
    p.add_argument("--checkpoint-out", help="also keep the trained .pth state dict here")
    p.add_argument("--sheet", help="write a before/after PNG here (default: none)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    """Entry point of ``python -m export cartoon``; raises ``ExportError`` on a failed export."""
    args = _parser().parse_args(argv)
    from export.exporter import export_model
    from export.training import check_out

    out = check_out(args.out, suffix=None)
    steps = args.steps or (6 if args.quick else 360)
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 14.0)
    kwargs = {"sizes": (64, 96), "batch": 2, "log_every": 2} if args.quick else {}
    net, facts = train(steps=steps, minutes=minutes, seed=args.seed, log=log, **kwargs)
    log(f"trained {facts['steps']} steps in {facts['seconds']:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.checkpoint_out) if args.checkpoint_out else Path(tmp) / "cartoon.pth"
        save_checkpoint(net, ckpt)
        parity = [(64, 64), (44, 76)] if args.quick else None
        export_model("fast-style", ckpt, out, parity_sizes=parity, log=log)
        if args.int8_out:
            export_model(
                "fast-style",
                ckpt,
                args.int8_out,
                int8=True,
                calibration=SAMPLES / "one_face.mp4",
                parity_sizes=parity,
                log=log,
            )
    for name, r in evaluate(out, photos("heldout"), 128 if args.quick else EVAL_SIZE).items():
        log(
            f"held-out {name}: L1 {r['l1']:.2f} levels, PSNR {r['psnr']:.2f} dB vs the filter "
            f"(input itself: {r['input_psnr']:.2f} dB)"
        )
    if args.sheet:
        before_after(out, Path(args.sheet))
        log(f"wrote {args.sheet}")
    return 0
