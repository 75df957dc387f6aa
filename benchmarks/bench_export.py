"""Speed of exported models per family: PyTorch eager vs ONNX Runtime fp32 vs int8 on CPU (+ fp16 CUDA).

Random-weight modules in each original layout go through the real ``export_model`` pipeline
(parity check included), then every backend runs one frame at 256x256 and 1280x720 on
``--threads`` CPU threads (default 2). Timings are medians of interleaved runs, so a machine
that is busy for a moment biases no backend in particular. The int8 PSNR is against the fp32
ONNX output on real frames; with random weights it only indicates the quantization error.
fp16 with CUDA and IO binding runs only where ONNX Runtime has a working CUDA provider.

Prints a Markdown table and writes ``benchmarks/results/export_cpu.json``. Never asserts timings.

    python benchmarks/bench_export.py [--runs 5] [--threads 2] [--families cyclegan fast-style]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.exporter import export_model  # noqa: E402
from export.frames import SAMPLES, fit, sample_frames  # noqa: E402
from export.nets.animegan2 import Generator  # noqa: E402
from export.nets.cyclegan import ResnetGenerator  # noqa: E402
from export.nets.fast_style import TransformerNet  # noqa: E402
from export.onnx_io import INPUT_NAME, OUTPUT_NAME, ort_session, psnr  # noqa: E402
from export.wrap import ImageToImage  # noqa: E402

SIZES = [(256, 256), (720, 1280)]


def random_module(family: str) -> torch.nn.Module:
    """Published hyper-parameters, random weights; outputs spread over 0..255 so int8 error shows."""
    torch.manual_seed(0)
    if family == "cyclegan":
        return ResnetGenerator(3, 3, 64, 9).eval()
    if family == "fast-style":
        net = TransformerNet().eval()
        with torch.no_grad():
            net.deconv3.conv2d.weight.mul_(300.0)
            net.deconv3.conv2d.bias.fill_(128.0)
        return net
    net = Generator().eval()
    with torch.no_grad():
        net.out_layer[0].weight.mul_(5.0)
    return net


def calibration_source(tmp: Path) -> Path:
    clips = sorted(SAMPLES.glob("*.mp4"))
    if clips:
        return clips[0]
    import cv2

    folder = tmp / "calib"
    folder.mkdir()
    for i, f in enumerate(sample_frames(8)):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def timed(fns: dict[str, object], runs: int) -> dict[str, float]:
    """Median ms of each callable, one warm-up each, runs interleaved."""
    for fn in fns.values():
        fn()  # type: ignore[operator]
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times[k].append(time.perf_counter() - t0)
    return {k: 1000.0 * float(np.median(v)) for k, v in times.items()}


def cuda_fp16(path: Path, frame: np.ndarray, runs: int) -> float | None:
    """Median ms of the fp16 model on CUDA with IO binding (input and output stay on the GPU)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None
    try:
        sess = ort_session(path, "CUDAExecutionProvider")
        if sess.get_providers()[0] != "CUDAExecutionProvider":
            return None
        x = ort.OrtValue.ortvalue_from_numpy(frame, "cuda", 0)
        binding = sess.io_binding()
        binding.bind_ortvalue_input(INPUT_NAME, x)
        binding.bind_output(OUTPUT_NAME, "cuda", 0)

        def run() -> None:
            sess.run_with_iobinding(binding)
            binding.synchronize_outputs()

        return timed({"fp16": run}, runs)["fp16"]
    except Exception:  # noqa: BLE001  (a CUDA provider listed without a usable GPU)
        return None


def bench_family(family: str, tmp: Path, runs: int, threads: int, calib: Path) -> list[dict]:
    net = random_module(family)
    ckpt = tmp / f"{family}.pth"
    torch.save(net.state_dict(), ckpt)
    quiet = lambda _msg: None  # noqa: E731
    paths = {v: tmp / f"{family}-{v}.onnx" for v in ("fp32", "int8", "fp16")}
    export_model(family, ckpt, paths["fp32"], preferred_size=256, log=quiet)
    export_model(family, ckpt, paths["int8"], int8=True, calibration=calib, preferred_size=256, log=quiet)
    export_model(family, ckpt, paths["fp16"], fp16=True, preferred_size=256, log=quiet)
    from export.registry import get_family

    wrapper = ImageToImage(net, get_family(family).info.input_range)
    fp32, int8 = ort_session(paths["fp32"], threads=threads), ort_session(paths["int8"], threads=threads)
    frames = list(sample_frames(3))
    rows = []
    for h, w in SIZES:
        batch = np.stack([fit(f, h, w) for f in frames])
        one = batch[:1]
        tensor = torch.from_numpy(one)

        def eager(tensor: torch.Tensor = tensor) -> None:
            with torch.inference_mode():
                wrapper(tensor)

        n = runs if h * w <= 256 * 256 else max(3, runs // 2)
        ms = timed(
            {
                "torch": eager,
                "fp32": lambda one=one: fp32.run([OUTPUT_NAME], {INPUT_NAME: one}),
                "int8": lambda one=one: int8.run([OUTPUT_NAME], {INPUT_NAME: one}),
            },
            n,
        )
        a = fp32.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        b = int8.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        rows.append(
            {
                "family": family,
                "size": f"{w}x{h}",
                "torch_ms": ms["torch"],
                "ort_fp32_ms": ms["fp32"],
                "ort_int8_ms": ms["int8"],
                "int8_speedup": ms["fp32"] / ms["int8"],
                "int8_psnr_db": psnr(a, b),
                "cuda_fp16_ms": cuda_fp16(paths["fp16"], one, n),
                "runs": n,
            }
        )
        print(f"  {family} {w}x{h}: {rows[-1]}", file=sys.stderr)
    return rows


def table(rows: list[dict], threads: int) -> str:
    head = (
        "| family | size | PyTorch eager ms | ORT fp32 ms | ORT int8 ms | int8 speed-up | int8 PSNR dB | CUDA fp16 ms |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        cuda = f"{r['cuda_fp16_ms']:.1f}" if r["cuda_fp16_ms"] is not None else "n/a"
        lines.append(
            f"| {r['family']} | {r['size']} | {r['torch_ms']:.0f} | {r['ort_fp32_ms']:.0f} | {r['ort_int8_ms']:.0f} "
            f"| {r['int8_speedup']:.2f}x | {r['int8_psnr_db']:.1f} | {cuda} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--families", nargs="+", default=["cyclegan", "fast-style", "animegan2"])
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "export_cpu.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        calib = calibration_source(Path(tmp))
        for fam in args.families:
            rows += bench_family(fam, Path(tmp), args.runs, args.threads, calib)
    gpu = any(r["cuda_fp16_ms"] is not None for r in rows)
    print(
        f"Export benchmark: one frame, median of interleaved runs, {args.threads} CPU threads, random weights"
    )
    print(
        f"CPU: {platform.processor() or platform.machine()}; torch {torch.__version__}; onnxruntime {ort.__version__}"
    )
    print()
    print(table(rows, args.threads))
    print()
    if not gpu:
        print("CUDA fp16 + IO binding: not measured - no GPU machine is available to this run (column n/a).")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "threads": args.threads,
                "torch": torch.__version__,
                "onnxruntime": ort.__version__,
                "gpu": gpu,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
