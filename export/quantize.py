"""Static int8 quantization for CPU: QDQ, per-channel weights, calibrated on real frames.

``quant_pre_process`` (symbolic shape inference + ORT graph optimisation) runs first, as the
ONNX Runtime docs require for static quantization; then ``quantize_static`` with a reader that
feeds uint8 frames of the calibration clip through the model's own ``image`` input. Only the
convolutions are quantized: the normalisation layers (instance/group norm) need float statistics
and stay float, with quantize/dequantize pairs around each conv.
Every conv is quantized, the last one included: its 8-bit output step is a few levels at most
(measured: keeping it float gains < 1 dB and costs up to 20 % at 720p for fast-style).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.onnx_io import INPUT_NAME, OUTPUT_NAME, ort_session, psnr

QUANTIZED_OPS = ["Conv", "ConvTranspose"]


@dataclass
class Int8Report:
    """PSNR of the int8 model against fp32 and its speed-up on a fixed number of CPU threads."""

    psnr_db: float
    fp32_ms: float
    int8_ms: float
    threads: int
    size: tuple[int, int]

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms

    def __str__(self) -> str:
        return (
            f"int8 vs fp32 at {self.size[0]}x{self.size[1]}: PSNR {self.psnr_db:.1f} dB, "
            f"{self.fp32_ms:.1f} ms -> {self.int8_ms:.1f} ms ({self.speedup:.2f}x) "
            f"on {self.threads} CPU threads"
        )


def quantize_int8(
    fp32_path: Path, out_path: Path, calibration: list[np.ndarray], *, method: str = "minmax"
) -> None:
    """Write an int8 QDQ copy of ``fp32_path`` calibrated on ``calibration`` (uint8 NHWC batches)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {INPUT_NAME: batch}

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    import onnxruntime as ort

    ort.set_default_logger_severity(
        3
    )  # calibration sessions list every provider; CUDA may lack its libraries
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        quantize_static(
            str(pre),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTIZED_OPS,
            calibrate_method=methods[method],
            extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False},
        )


def paired_median_ms(sessions: list, batch: np.ndarray, runs: int) -> list[float]:  # noqa: ANN001
    """Median ms per run of each session, runs interleaved so a busy machine biases none of them."""
    feed = {INPUT_NAME: batch}
    for s in sessions:
        s.run([OUTPUT_NAME], feed)  # warm-up: arena growth, thread pool start
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for s, t in zip(sessions, times, strict=True):
            t0 = time.perf_counter()
            s.run([OUTPUT_NAME], feed)
            t.append(time.perf_counter() - t0)
    return [1000.0 * float(np.median(t)) for t in times]


def variant_psnr(
    fp32_path: Path, variant_path: Path, batches: list[np.ndarray], *, provider: str = ""
) -> float:
    """PSNR in dB of a variant's (int8, fp16) outputs against the fp32 model's, pooled over the
    uint8 NHWC ``batches`` of real frames (inf when identical); both run on ``provider`` (default CPU).
    Raises whatever onnxruntime raises when it cannot run the variant there."""
    kw = {"provider": provider} if provider else {}
    fp32, variant = ort_session(fp32_path, **kw), ort_session(variant_path, **kw)
    squared = count = 0.0
    for batch in batches:
        a = fp32.run([OUTPUT_NAME], {INPUT_NAME: batch})[0].astype(np.float64)
        b = variant.run([OUTPUT_NAME], {INPUT_NAME: batch})[0].astype(np.float64)
        squared += float(((a - b) ** 2).sum())
        count += a.size
    mse = squared / max(count, 1.0)
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def evaluate_int8(
    fp32_path: Path, int8_path: Path, frames: np.ndarray, *, threads: int = 2, runs: int = 5
) -> Int8Report:
    """PSNR of int8 vs fp32 outputs over ``frames`` (uint8 NHWC) and median latency of one frame each."""
    fp32 = ort_session(fp32_path, threads=threads)
    int8 = ort_session(int8_path, threads=threads)
    a = fp32.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    b = int8.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    fp32_ms, int8_ms = paired_median_ms([fp32, int8], frames[:1], runs)
    return Int8Report(psnr(a, b), fp32_ms, int8_ms, threads, (frames.shape[1], frames.shape[2]))
