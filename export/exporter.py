"""``export_model``: checkpoint -> wrapped module -> ONNX -> checker -> parity -> (fp16 | int8) -> file.

Everything is written to a temporary file next to the output and renamed only after the checks
pass, so a failed export never leaves a file behind.

Variants have parity floors of their own, measured on the same real frames as the fp32 parity
check (the sample clips, else scikit-image's photos) against the fp32 ONNX model: an int8 model
must reach ``INT8_PSNR_FLOOR`` dB, an fp16 model ``FP16_PSNR_FLOOR`` dB (and, as before, 99 % of
its values within 1 level of fp32 PyTorch). A variant that misses its floor, or that ONNX Runtime
here cannot run to check it, is not written unless ``allow_unchecked`` (``--allow-unchecked``),
which writes it with a warning. The measured value is printed either way.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from export.checkpoint import load_module
from export.errors import ExportError
from export.frames import describe_sample_source, fit, read_frames, sample_frames
from export.onnx_io import ParityReport, export_onnx, parity, set_metadata
from export.quantize import Int8Report, evaluate_int8, quantize_int8, variant_psnr
from export.registry import get_family
from export.wrap import ImageToImage
from streamer.model_contract import ModelMetadata

#: fp16 variants must match fp32 PyTorch on this fraction of values within 1 level (looser than fp32's 99.9%).
FP16_FRACTION = 0.99
#: int8 image models: least PSNR (dB) against the fp32 ONNX model on real frames.
INT8_PSNR_FLOOR = 30.0
#: fp16 image models: least PSNR (dB) against the fp32 ONNX model on real frames.
FP16_PSNR_FLOOR = 40.0


@dataclass
class ExportResult:
    """What an export wrote and measured."""

    path: Path
    metadata: ModelMetadata
    parity: ParityReport | None
    int8: Int8Report | None = None
    notes: list[str] = field(default_factory=list)
    variant_psnr: float | None = None
    """int8/fp16: PSNR (dB) against the fp32 model on real frames; None when not measured."""
    unchecked: bool = False
    """True when the variant missed its floor or could not be checked and was written anyway."""


def odd_size(preferred: int, multiple: int) -> tuple[int, int]:
    """A non-square size, each side an odd multiple of ``multiple``, near 0.6 x 0.9 of ``preferred``."""
    return (
        multiple * (2 * max(1, round(0.3 * preferred / multiple)) + 1),
        multiple * (2 * max(1, round(0.45 * preferred / multiple)) + 1),
    )


def parity_batches(
    sizes: list[tuple[int, int]], per_size: int = 2, frames: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """One uint8 NHWC batch per size, of real frames fitted to that size."""
    source = frames if frames is not None else list(sample_frames(per_size * len(sizes)))
    batches = []
    for i, (h, w) in enumerate(sizes):
        picks = [source[(i * per_size + j) % len(source)] for j in range(per_size)]
        batches.append(np.stack([fit(f, h, w) for f in picks]))
    return batches


def _cuda_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def export_model(
    family_name: str,
    checkpoint: str | Path,
    out: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    calibration: str | Path | None = None,
    calibration_frames: int = 8,
    preferred_size: int | None = None,
    parity_sizes: list[tuple[int, int]] | None = None,
    allow_unchecked: bool = False,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export a checkpoint of ``family_name`` to ``out`` following DESIGN 3.2; raises ``ExportError``.

    ``preferred_size`` overrides the family default recorded in the metadata (e.g. 512 for a
    checkpoint trained at 512). ``parity_sizes`` overrides the sizes of the parity check (tests
    use small ones). ``int8`` needs ``calibration`` (a clip, an image or a folder of images).
    ``allow_unchecked`` writes an int8/fp16 variant that misses its parity floor (see the module
    doc), with a warning, instead of refusing it.
    """
    if fp16 and int8:
        raise ExportError("--fp16 and --int8 exclude each other: export one variant per file")
    if int8 and calibration is None:
        raise ExportError("--int8 needs --calibration CLIP (a video, image or folder of real frames)")
    family = get_family(family_name)
    info = family.info
    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"--out {out} must end in .onnx")
    if not out.parent.is_dir():
        raise ExportError(f"output folder {out.parent} does not exist: create it first")
    size = preferred_size or info.preferred_size
    if size % info.size_multiple:
        raise ExportError(
            f"--preferred-size {size} must be a multiple of {info.size_multiple} for {family_name}"
        )
    calib = read_frames(calibration, calibration_frames) if int8 else None  # fail early on a bad clip

    module, loaded = load_module(family, checkpoint)
    log(
        f"loaded {family_name} from {loaded['source']}"
        + (f", dropped {len(loaded['dropped'])} legacy keys" if loaded["dropped"] else "")
    )
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    metadata = ModelMetadata(
        family=info.name,
        task=info.task,
        size_multiple=info.size_multiple,
        preferred_size=size,
        input_range=info.input_range,
        source=loaded["source"],
        precision=precision,
    )
    sizes = parity_sizes or [(size, size), odd_size(size, info.size_multiple)]
    batches = parity_batches(sizes)
    example_hw = sizes[-1]

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        wrapper = ImageToImage(module, info.input_range)
        export_onnx(wrapper, fp32_path, example_hw=example_hw, dtype=torch.float32)
        set_metadata(fp32_path, metadata.replace(precision="fp32"))
        log(f"parity on {describe_sample_source()}:")
        report = parity(fp32_path, wrapper, batches)
        log(f"  fp32 ONNX Runtime vs PyTorch: {report}")
        if not report.ok():
            raise ExportError(f"parity check failed, nothing written: {report} (need >= 99.9%)")
        result = ExportResult(out, metadata, report)
        final = fp32_path
        if fp16:
            final = _fp16(
                module,
                info.input_range,
                Path(tmp),
                example_hw,
                metadata,
                batches,
                result,
                log,
                allow_unchecked,
            )
            _check_floor(fp32_path, final, batches, "fp16", FP16_PSNR_FLOOR, result, allow_unchecked, log)
        elif int8:
            final = Path(tmp) / "int8.onnx"
            assert calib is not None
            calib_batches = [fit(f, size, size)[None] for f in calib]
            quantize_int8(fp32_path, final, calib_batches)
            set_metadata(final, metadata)
            result.int8 = evaluate_int8(fp32_path, final, batches[0])
            log(f"  {result.int8}")
            _check_floor(fp32_path, final, batches, "int8", INT8_PSNR_FLOOR, result, allow_unchecked, log)
            if result.int8.speedup < 1.5:
                result.notes.append(f"int8 speed-up {result.int8.speedup:.2f}x < 1.5x on this machine")
                log(f"  note: {result.notes[-1]}")
        os.replace(final, out)
    unchecked = ", unchecked" if result.unchecked else ""
    log(f"wrote {out} ({precision}{unchecked}, {out.stat().st_size / 1e6:.1f} MB)")
    return result


def _check_floor(
    fp32_path: Path,
    variant_path: Path,
    batches: list[np.ndarray],
    precision: str,
    floor: float,
    result: ExportResult,
    allow_unchecked: bool,
    log: Callable[[str], None],
) -> None:
    """Measure the variant's PSNR against the fp32 model on the parity frames; refuse it (ExportError)
    below ``floor`` or when it cannot run here, unless ``allow_unchecked`` (then warn)."""
    frames = sum(len(b) for b in batches)
    # fp16 runs where its parity check ran (CUDA when it really worked there), int8 on CPU
    provider = result.parity.provider if precision == "fp16" and result.parity else ""
    try:
        value = variant_psnr(fp32_path, variant_path, batches, provider=provider)
    except Exception as e:  # noqa: BLE001  (ORT builds without fp16 kernels refuse the session)
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        problem = f"{precision} parity floor not checked: ONNX Runtime cannot run it here ({reason})"
        return _refuse_or_warn(problem, result, allow_unchecked, log)
    result.variant_psnr = value
    measured = f"{precision} vs fp32 ONNX on {frames} real frames: PSNR {value:.1f} dB (floor {floor:g} dB)"
    if value >= floor:
        log(f"  {measured}: ok")
        return None
    return _refuse_or_warn(f"{precision} misses its parity floor: {measured}", result, allow_unchecked, log)


def _refuse_or_warn(
    problem: str, result: ExportResult, allow_unchecked: bool, log: Callable[[str], None]
) -> None:
    if not allow_unchecked:
        raise ExportError(f"{problem}; nothing written (--allow-unchecked writes it anyway)")
    result.unchecked = True
    result.notes.append(f"{problem}; written anyway (--allow-unchecked)")
    log(f"  warning: {result.notes[-1]}")
    print(f"warning: {result.notes[-1]}", file=sys.stderr)


def _fp16(
    module: torch.nn.Module,
    input_range: str,
    tmp: Path,
    example_hw: tuple[int, int],
    metadata: ModelMetadata,
    batches: list[np.ndarray],
    result: ExportResult,
    log: Callable[[str], None],
    allow_unchecked: bool = False,
) -> Path:
    """Export the module traced in half; check it against fp32 PyTorch on CUDA if ORT has it, else CPU."""
    path = tmp / "fp16.onnx"
    half = ImageToImage(module.half(), input_range, dtype=torch.float16)
    export_onnx(half, path, example_hw=example_hw, dtype=torch.float16)
    set_metadata(path, metadata)
    provider = "CUDAExecutionProvider" if _cuda_available() else "CPUExecutionProvider"
    module.float()
    ref = ImageToImage(module, input_range)
    try:
        report = parity(path, ref, batches, provider=provider)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001  (ORT builds without fp16 kernels refuse the session)
        reason = str(e).splitlines()[0][:120]
        note = f"fp16 parity not checked: ONNX Runtime on {provider} cannot run it ({reason})"
        result.notes.append(note)
        log(f"  note: {note}")
        return path
    log(f"  fp16 ONNX Runtime vs fp32 PyTorch: {report}")
    result.parity = report
    if not report.ok(FP16_FRACTION):
        problem = f"fp16 parity check failed: {report} (need >= {100 * FP16_FRACTION:g}%)"
        _refuse_or_warn(problem, result, allow_unchecked, log)
    if report.provider == "CPUExecutionProvider":
        note = "fp16 checked on CPU ONNX Runtime only (no CUDA provider with a GPU here)"
        result.notes.append(note)
        log(f"  note: {note}")
    return path
