"""Train the recurrent frame predictor self-supervised on clips made here; export it to ONNX.

``python -m export predictor [--out models/predictor.onnx] [--quick] [--seed 0] [--minutes M]``

Data (nothing downloaded): short sequences of 128x128 views made offline from

- photos shipped with scikit-image and matplotlib (astronaut, coffee, chelsea, rocket, camera, ...,
  grace_hopper), "filmed" by a virtual camera on random smooth trajectories (pan with a drifting
  velocity, zoom, roll, a little shake; 0-6 px per frame, the sample clips move ~1-3 px);
- consecutive frames of ``samples/one_face.mp4`` and ``samples/face_audio.mp4`` (frame step 1-2,
  random scale and crop).

Each view gets a "stylized" version: the classical cartoon filter that ``models/cartoon.onnx``
imitates (``export.train_cartoon.cartoon_filter``, run on every frame independently, so its
flicker is real), or the picture itself. ``samples/two_people.mp4`` is never trained on: the
quality benchmark (``benchmarks/bench_predict.py``) measures on it.

Training unrolls the ``predict`` stage exactly: per sequence a pattern marks each frame as
computed (stylized upstream, raw picture not available), untranslated (raw picture available,
output to predict: translate ``every: k``) or dropped (nothing available: live). The net runs on
every frame after the first, like the stage; its output replaces the missing ones and is fed
back. Loss: L1 of every step's output against the stylized frame, plus the photometric loss of
the pair flow (``warp(prev, g) ~ cur``) and a small smoothness term on it.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from streamer.model_contract import (
    FAMILY_PREDICTOR,
    PREDICTOR_INPUTS,
    PREDICTOR_OUTPUTS,
    PREDICTOR_STATE_INPUT,
    PREDICTOR_STATE_OUTPUT,
    TASK_PREDICTION,
    ModelMetadata,
    predictor_feeds,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TRAIN_CLIPS = ("one_face.mp4", "face_audio.mp4")
HELDOUT_CLIP = "two_people.mp4"
PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "immunohistochemistry",
    "cat",
    "hubble_deep_field",
)
SIZE = 128
#: Frame status codes in a training pattern (and in the stage).
COMPUTED, RAW, DROPPED = 0, 1, 2
MAX_SPAN = 8


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3])


def photos() -> list[np.ndarray]:
    """The training photos, RGB uint8."""
    import warnings

    import cv2
    import matplotlib
    from skimage import data

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in PHOTOS:
            if hasattr(data, name):
                out.append(_rgb(getattr(data, name)()))
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    out.append(cv2.cvtColor(cv2.imread(str(hopper)), cv2.COLOR_BGR2RGB))
    return out


def clip_frames(name: str, scale: float = 1.0, limit: int | None = None) -> list[np.ndarray]:
    """All (or ``limit``) RGB frames of a sample clip, scaled by ``scale``."""
    import av
    import cv2

    frames = []
    with av.open(str(SAMPLES / name)) as c:
        for f in c.decode(video=0):
            im = f.to_ndarray(format="rgb24")
            if scale != 1.0:
                im = cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append(im)
            if limit is not None and len(frames) >= limit:
                break
    return frames


def camera_sequence(rng: np.random.Generator, photo: np.ndarray, n: int, size: int) -> np.ndarray:
    """``n`` views (``size`` px square) of ``photo`` along a random smooth camera path."""
    import cv2

    h, w = photo.shape[:2]
    s0 = rng.uniform(size * 1.6, max(size * 1.7, 1.0 * max(h, w))) / max(h, w)  # photo px -> view px
    speed = rng.choice(
        [rng.uniform(0, 1.5), rng.uniform(0.5, 4.0), rng.uniform(2.0, 6.0)], p=[0.35, 0.45, 0.2]
    )
    ang = rng.uniform(0, 2 * math.pi)
    v = np.array([math.cos(ang), math.sin(ang)]) * speed  # view px per frame
    zoom_v = rng.uniform(-0.012, 0.012) if rng.random() < 0.5 else 0.0
    rot_v = math.radians(rng.uniform(-0.5, 0.5)) if rng.random() < 0.4 else 0.0
    shake = rng.uniform(0, 0.6) if rng.random() < 0.3 else 0.0
    margin = size / s0 * 0.75
    c = np.array(
        [
            rng.uniform(min(margin, w / 2), max(w - margin, w / 2)),
            rng.uniform(min(margin, h / 2), max(h - margin, h / 2)),
        ]
    )
    scale, rot = s0, rng.uniform(-0.05, 0.05)
    out = []
    for _ in range(n):
        cos, sin = math.cos(rot) * scale, math.sin(rot) * scale
        # view = A (photo - c) + size/2
        a = np.array([[cos, -sin], [sin, cos]])
        jitter = rng.normal(0, shake, 2)
        t = size / 2 - a @ c + jitter
        m = np.hstack([a, t[:, None]])
        out.append(
            cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        )
        v = v + rng.normal(0, 0.15 * max(speed, 0.3), 2)
        c = c + np.linalg.solve(a, v) * 1.0  # move the view by v view-pixels
        scale *= math.exp(zoom_v)
        rot += rot_v
    return np.stack(out)


def clip_sequence(rng: np.random.Generator, frames: list[np.ndarray], n: int, size: int) -> np.ndarray:
    """``n`` consecutive frames (step 1 or 2) of a clip, one random crop position."""
    import cv2

    step = int(rng.choice([1, 1, 2]))
    start = int(rng.integers(0, len(frames) - step * (n - 1)))
    scale = rng.uniform(0.5, 1.0)
    picks = [frames[start + i * step] for i in range(n)]
    h, w = picks[0].shape[:2]
    sh, sw = max(size, int(h * scale)), max(size, int(w * scale))
    y0, x0 = int(rng.integers(0, sh - size + 1)), int(rng.integers(0, sw - size + 1))
    out = [
        cv2.resize(p, (sw, sh), interpolation=cv2.INTER_AREA)[y0 : y0 + size, x0 : x0 + size] for p in picks
    ]
    return np.stack(out)


def stylize(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The target domain: the cartoon filter per frame (70 %) or the raw frames themselves."""
    from export.train_cartoon import cartoon_filter

    if rng.random() < 0.3:
        return frames.copy()
    return np.stack([cartoon_filter(f) for f in frames])


def make_dataset(
    count: int, length: int, size: int, seed: int, log: Callable[[str], None] = print
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sequences of ``length`` frames: raw and stylized, uint8 [count, length, size, size, 3]."""
    import cv2

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pics = photos()
    clips = [clip_frames("one_face.mp4", 0.5), clip_frames("face_audio.mp4")]
    raws, stys = [], []
    for _ in range(count):
        if rng.random() < 0.65:
            seq = camera_sequence(rng, pics[int(rng.integers(len(pics)))], length, size)
        else:
            seq = clip_sequence(rng, clips[int(rng.integers(len(clips)))], length, size)
        if rng.random() < 0.3:  # decoded-video softness
            seq = np.stack([cv2.GaussianBlur(f, (0, 0), 0.6) for f in seq])
        raws.append(seq)
        stys.append(stylize(seq, rng))
    log(f"made {count} sequences of {length} frames at {size}px in {time.perf_counter() - t0:.0f} s")
    return np.stack(raws), np.stack(stys)


def random_pattern(rng: np.random.Generator, length: int) -> list[int]:
    """Frame statuses of one training sequence: translate every 2 or 3, or live drops."""
    kind = rng.choice(["every2", "every3", "live", "live_every2"], p=[0.4, 0.15, 0.25, 0.2])
    if kind in ("every2", "every3"):
        k = 2 if kind == "every2" else 3
        return [COMPUTED if i % k == 0 else RAW for i in range(length)]
    pat = [COMPUTED]
    for i in range(1, length):
        if rng.random() < 0.5:
            pat.append(DROPPED)
        elif kind == "live_every2" and i % 2:
            pat.append(RAW)
        else:
            pat.append(COMPUTED)
    return pat


def unroll(net, raw, sty, pattern: list[int]):  # noqa: ANN001, ANN201
    """Run the stage's logic over a batch of sequences (float NCHW tensors [N, T, 3, H, W]).

    Returns (total output L1, photometric L1, smoothness, number of steps).
    """
    import torch
    from torch.nn import functional as F

    from export.nets.predictor import warp

    n, length = raw.shape[:2]
    out_last = sty[:, 0]
    real = [(0, sty[:, 0])]  # frames really stylized upstream: (index, picture)
    raw_last, raw_idx = None, -1
    state = net.initial_state(out_last)
    l_out = l_photo = l_smooth = 0.0
    ones = torch.ones(n)
    for t in range(1, length):
        status = pattern[t]
        if status == RAW:
            prev = raw_last if raw_last is not None else out_last
            span = min(t - raw_idx, MAX_SPAN) if raw_last is not None else 1
            cur, lag = raw[:, t], 0
        elif len(real) >= 2:
            (ia, prev), (ib, cur) = real[-2], real[-1]
            span, lag = min(ib - ia, MAX_SPAN), min(t - 1 - ib, MAX_SPAN)
        else:
            prev = cur = real[-1][1]
            span, lag = 1, min(t - 1 - real[-1][0], MAX_SPAN)
        r = net(out_last, prev, cur, ones / span, ones * float(lag), state)
        state = r["state"]
        l_out = l_out + F.l1_loss(r["out"], sty[:, t])
        g = r["g"]
        l_photo = l_photo + F.l1_loss(warp(prev, g), cur)
        l_smooth = (
            l_smooth
            + (g[..., :, 1:] - g[..., :, :-1]).abs().mean()
            + (g[..., 1:, :] - g[..., :-1, :]).abs().mean()
        )
        if status == COMPUTED:
            out_last = sty[:, t]
            real.append((t, out_last))
        else:
            out_last = r["out"]
        if status == RAW:
            raw_last, raw_idx = raw[:, t], t
    return l_out, l_photo, l_smooth, length - 1


def train(
    *,
    steps: int,
    minutes: float,
    seed: int,
    sequences: int = 240,
    length: int = 7,
    size: int = SIZE,
    batch: int = 6,
    lr: float = 1e-3,
    log_every: int = 25,
    log: Callable[[str], None] = print,
):  # noqa: ANN201
    """A trained ``FramePredictor`` (eval mode) and a dict of training facts."""
    import torch

    from export.nets.predictor import FramePredictor

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    raws, stys = make_dataset(sequences, length, size, seed, log)
    rng = np.random.default_rng(seed + 1)
    net = FramePredictor()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t0 = time.perf_counter()
    budget = 60.0 * minutes
    step, running, progress = 0, 0.0, 0.0
    net.train()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 1, 4, 2, 3).float() / 255.0

    while progress < 1.0:
        idx = rng.integers(0, len(raws), batch)
        raw, sty = raws[idx], stys[idx]
        if rng.random() < 0.5:  # time reversal and flips: more motion variety for free
            raw, sty = raw[:, ::-1], sty[:, ::-1]
        if rng.random() < 0.5:
            raw, sty = raw[:, :, :, ::-1], sty[:, :, :, ::-1]
        pattern = random_pattern(rng, length)
        for g in opt.param_groups:
            g["lr"] = 0.05 * lr + 0.95 * lr * 0.5 * (1 + math.cos(math.pi * progress))
        l_out, l_photo, l_smooth, k = unroll(
            net, tensor(np.ascontiguousarray(raw)), tensor(np.ascontiguousarray(sty)), pattern
        )
        loss = (l_out + 0.5 * l_photo + 0.02 * l_smooth) / k
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        running += l_out.item() / k * 255.0
        elapsed = time.perf_counter() - t0
        progress = max(step / steps, elapsed / budget)
        if step % log_every == 0 or progress >= 1.0:
            m = step % log_every or log_every
            log(
                f"step {step:5d}/{steps}  L1 {running / m:5.2f} levels  "
                f"lr {opt.param_groups[0]['lr']:.1e}  {elapsed:4.0f} s"
            )
            running = 0.0
    elapsed = time.perf_counter() - t0
    if step < steps:
        log(f"time budget of {minutes:g} min reached after {step} of {steps} steps")
    net.eval()
    facts = {
        "steps": step,
        "seconds": round(elapsed, 1),
        "batch": batch,
        "size": size,
        "length": length,
        "sequences": sequences,
        "lr": lr,
        "seed": seed,
    }
    return net, facts


# ----------------------------------------------------------------------------- export

INPUTS = PREDICTOR_INPUTS
#: Largest differences allowed between ONNX Runtime and PyTorch over a sequence (export refuses
#: to write otherwise): flow in pixels, residual in levels, state values; and the fraction of the
#: OpenCV-rendered picture's values within 1 level of PyTorch's render (remap's 1/32 px steps).
PARITY = {"flow": 0.01, "residual": 0.05, "state": 1e-3, "render_within": 0.99}
OUTPUTS = PREDICTOR_OUTPUTS


def shrink(image: np.ndarray) -> np.ndarray:
    """A picture at 1/4 of its size by area averaging (what the stage feeds as ``prev``/``cur``)."""
    import cv2

    from export.nets.predictor import SCALE

    h, w = image.shape[:2]
    return cv2.resize(image, (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)


def example_feeds(h: int, w: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random feeds of the exported model for an ``h`` x ``w`` picture (multiples of 16)."""
    from export.nets.predictor import SCALE, STATE_CHANNELS, STATE_SCALE

    rng = np.random.default_rng(seed)
    pic = lambda s: rng.integers(0, 256, (1, h // s, w // s, 3), dtype=np.uint8)  # noqa: E731
    state = np.zeros((1, STATE_CHANNELS, h // STATE_SCALE, w // STATE_SCALE), np.float32)
    return predictor_feeds(image=pic(SCALE), prev=pic(SCALE), cur=pic(SCALE), span=2.0, lag=0.0, state=state)


def export_onnx(net, path: Path) -> None:  # noqa: ANN001
    """Trace ``PredictorExport(net)`` with dynamic N, H, W to ``path`` (opset 17)."""
    import warnings

    import torch

    from export.nets.predictor import PredictorExport
    from export.onnx_io import OPSET

    wrapper = PredictorExport(net).eval()
    feeds = example_feeds(64, 96)
    args = tuple(torch.from_numpy(feeds[k]) for k in INPUTS)
    pic = {0: "N", 1: "H", 2: "W"}
    grid = {0: "N", 2: "h4", 3: "w4"}
    state = {0: "N", 2: "h16", 3: "w16"}
    dyn = dict(zip(INPUTS, (pic, pic, pic, {0: "N"}, {0: "N"}, state), strict=True))
    dyn.update(zip(OUTPUTS, (grid, grid, state), strict=True))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes=dyn,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def sequence_parity(
    onnx_path: Path,
    net,  # noqa: ANN001
    frames: list[np.ndarray],
    spans: list[int] | None = None,
) -> dict:
    """The state round trip: ONNX Runtime and PyTorch run frame by frame on ``frames``, each
    carrying its own recurrent state from step to step.

    Returns the largest differences of ``flow`` (pixels), ``residual`` (levels) and the state over
    the sequence, and how the full-size prediction rendered from ONNX Runtime's outputs by the
    stage's OpenCV ``render_prediction`` agrees with PyTorch's ``render`` (fraction of values
    within 1 level, largest difference).
    """
    import torch

    from export.nets.predictor import PredictorExport, render
    from export.onnx_io import ort_session
    from streamer.model_contract import render_prediction

    session = ort_session(onnx_path, threads=2)
    wrapper = PredictorExport(net).eval()
    h, w = frames[0].shape[:2]
    state_o = state_t = example_feeds(h, w)[PREDICTOR_STATE_INPUT]
    worst = {"flow": 0.0, "residual": 0.0, "state": 0.0}
    within = total = max_diff = 0
    for i in range(1, len(frames)):
        span = np.array([float(spans[i] if spans else 1)], np.float32)
        common = {
            "image": shrink(frames[i - 1])[None],
            "prev": shrink(frames[i - 1 - (i > 1)])[None],
            "cur": shrink(frames[i])[None],
            "span": span,
            "lag": np.zeros(1, np.float32),
        }
        feeds = predictor_feeds(**common, state=state_o)
        got = dict(zip(OUTPUTS, session.run(list(OUTPUTS), feeds), strict=True))
        with torch.no_grad():
            feeds_t = predictor_feeds(**common, state=state_t)
            t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds_t.items()}
            want = dict(zip(OUTPUTS, (x.numpy() for x in wrapper(*(t[k] for k in INPUTS))), strict=True))
            full = torch.from_numpy(frames[i - 1]).permute(2, 0, 1)[None].float() / 255.0
            ref = render(full, torch.from_numpy(want["flow"]), torch.from_numpy(want["residual"]) / 255.0)
            ref_img = (
                torch.clamp(torch.round(ref * 255.0), 0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
            )
        for key, name in (("flow", "flow"), ("residual", "residual"), ("state", PREDICTOR_STATE_OUTPUT)):
            worst[key] = max(worst[key], float(np.abs(got[name] - want[name]).max()))
        img = render_prediction(frames[i - 1], got["flow"][0], got["residual"][0])
        diff = np.abs(img.astype(np.int16) - ref_img.astype(np.int16))
        within += int((diff <= 1).sum())
        total += diff.size
        max_diff = max(max_diff, int(diff.max()))
        state_o, state_t = got[PREDICTOR_STATE_OUTPUT], want[PREDICTOR_STATE_OUTPUT]
    return {
        "max_flow_diff": worst["flow"],
        "max_residual_diff": worst["residual"],
        "max_state_diff": worst["state"],
        "render_within": within / max(total, 1),
        "render_max_diff": max_diff,
    }


def write_model(net, out: Path, facts: dict, log: Callable[[str], None] = print) -> dict:  # noqa: ANN001
    """Export, check, prove sequence parity on real frames, write metadata; rename into ``out``."""
    import os

    from export.errors import ExportError
    from export.nets.predictor import SCALE, SIZE_MULTIPLE, STATE_CHANNELS, STATE_SCALE
    from export.onnx_io import set_metadata

    frames = [f[:352, :640] for f in clip_frames("face_audio.mp4", limit=6)]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_path = Path(tmp) / out.name
        export_onnx(net, tmp_path)
        meta = ModelMetadata(
            family=FAMILY_PREDICTOR,
            task=TASK_PREDICTION,
            size_multiple=SIZE_MULTIPLE,
            state_channels=STATE_CHANNELS,
            state_scale=STATE_SCALE,
            input_scale=SCALE,
            source=facts.get("source")
            or f"python -m export predictor (seed {facts.get('seed')}, {facts.get('steps')} steps)",
        )
        set_metadata(tmp_path, meta)
        report = sequence_parity(tmp_path, net, frames, spans=[1, 1, 2, 2, 1, 3])
        log(
            f"state round trip over {len(frames)} frames, ONNX Runtime vs PyTorch: flow max diff "
            f"{report['max_flow_diff']:.1e} px, residual {report['max_residual_diff']:.1e} levels, state "
            f"{report['max_state_diff']:.1e}; OpenCV render {100 * report['render_within']:.3f}% "
            "within 1 level "
            f"(max {report['render_max_diff']})"
        )
        if not (
            report["max_flow_diff"] <= PARITY["flow"]
            and report["max_state_diff"] <= PARITY["state"]
            and report["max_residual_diff"] <= PARITY["residual"]
            and report["render_within"] >= PARITY["render_within"]
        ):
            raise ExportError(
                f"ONNX Runtime and PyTorch disagree on a frame sequence ({report}); not written"
            )
        os.replace(tmp_path, out)
    log(f"wrote {out}")
    return report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see python -m export predictor --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m export predictor", description="Train the recurrent frame predictor; export it."
    )
    p.add_argument(
        "--out", default="models/predictor.onnx", help="ONNX output (default models/predictor.onnx)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a few steps on few sequences: checks the path in ~30 s"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data and patterns (default 0)")
    p.add_argument("--steps", type=int, help="Adam steps (default 3000, 8 with --quick)")
    p.add_argument(
        "--minutes", type=float, help="wall-time cap of the training loop (default 10, 0.3 with --quick)"
    )
    p.add_argument("--checkpoint-out", help="also keep the trained state dict (.pth) here")
    p.add_argument("--from-checkpoint", help="skip training: export this state dict (.pth) of a past run")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    """Entry point of ``python -m export predictor``; raises ``ExportError`` on a failed export."""
    args = _parser().parse_args(argv)
    from export.training import check_out

    out = check_out(args.out, suffix=None)
    steps = args.steps or (8 if args.quick else 3000)
    minutes = args.minutes if args.minutes is not None else (0.3 if args.quick else 10.0)
    kw = {"sequences": 24, "size": 64, "batch": 4, "log_every": 4} if args.quick else {}
    if args.from_checkpoint:
        import torch

        from export.nets.predictor import FramePredictor

        net = FramePredictor()
        net.load_state_dict(torch.load(args.from_checkpoint, map_location="cpu"))
        net.eval()
        facts = {"source": f"python -m export predictor --from-checkpoint {Path(args.from_checkpoint).name}"}
    else:
        net, facts = train(steps=steps, minutes=minutes, seed=args.seed, log=log, **kw)
        log(f"trained {facts['steps']} steps in {facts['seconds']:.0f} s")
    if args.checkpoint_out:
        import torch

        torch.save(net.state_dict(), args.checkpoint_out)
    write_model(net, out, facts, log)
    return 0
