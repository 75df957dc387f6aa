"""ONNX writing, metadata, checking and the ORT-vs-PyTorch parity check (timm ``onnx_export`` style).

The parity rule: on real frames, at the family's preferred size and at one odd size that is a
multiple of its size multiple, at least 99.9 % of output values must be within 1 level of 255
of the PyTorch wrapper's. A model that misses it is never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from export.errors import ExportError
from streamer.model_contract import IMAGE_INPUT, IMAGE_OUTPUT, STREAMER_FORMAT, MetadataError, ModelMetadata

INPUT_NAME = IMAGE_INPUT
OUTPUT_NAME = IMAGE_OUTPUT  # ONNX forbids an output with the input's name (SSA); see DESIGN 3.2
OPSET = 17
__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "STREAMER_FORMAT", "set_metadata"]
PARITY_FRACTION = 0.999
PARITY_LEVELS = 1


def export_onnx(wrapper: nn.Module, path: Path, *, example_hw: tuple[int, int], dtype: torch.dtype) -> None:
    """Trace ``wrapper`` (uint8 NHWC in/out) to ``path`` with dynamic N, H, W (TorchScript exporter)."""
    example = torch.randint(0, 256, (1, *example_hw, 3), dtype=torch.uint8)
    _trace(wrapper, example, path, OUTPUT_NAME, {0: "N", 1: "H", 2: "W"})


def export_crop_onnx(wrapper: nn.Module, example: torch.Tensor, path: Path, output_name: str) -> None:
    """Trace a face-crop model (uint8 NHWC crops of a fixed size in, one tensor per crop out) to
    ``path``; only the batch axis is dynamic."""
    _trace(wrapper, example, path, output_name, {0: "N"})


def _trace(
    wrapper: nn.Module, example: torch.Tensor, path: Path, output_name: str, axes: dict[int, str]
) -> None:
    """``torch.onnx.export`` as every model here is written: input ``image``, the same dynamic
    ``axes`` on input and output, our opset, constant folding, the TorchScript exporter."""
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values are expected
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_axes={INPUT_NAME: axes, output_name: axes},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def set_metadata(path: Path, metadata: ModelMetadata | Mapping[str, str]) -> None:
    """Replace the model's ``metadata_props`` with the contract record ``metadata`` (a plain mapping
    is read into one first, so it is validated the same way) and run ``onnx.checker`` on the result."""
    import onnx

    try:
        record = metadata if isinstance(metadata, ModelMetadata) else ModelMetadata.from_metadata(metadata)
    except MetadataError as e:
        raise ExportError(f"metadata breaks the model contract: {e}") from None
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in record.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"onnx.checker rejected the exported graph: {str(e).splitlines()[0]}") from e
    onnx.save(model, str(path))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def ort_session(path: Path, provider: str = "CPUExecutionProvider", threads: int = 0):  # noqa: ANN201
    """An ONNX Runtime session on ``provider``, CPU as fallback (``threads`` 0 lets ORT choose)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # a CUDA provider listed without its libraries logs errors
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)


@dataclass
class ParityReport:
    """Agreement of ONNX Runtime with PyTorch on a batch of frames, per size."""

    fraction_within: float
    max_diff: int
    pixels: int
    sizes: list[tuple[int, int]]
    provider: str

    def ok(self, fraction: float = PARITY_FRACTION) -> bool:
        return self.fraction_within >= fraction

    def __str__(self) -> str:
        sizes = ", ".join(f"{h}x{w}" for h, w in self.sizes)
        return (
            f"{100 * self.fraction_within:.4f}% of {self.pixels} values within {PARITY_LEVELS} level "
            f"(max diff {self.max_diff}) at {sizes} on {self.provider}"
        )


def parity(
    onnx_path: Path,
    reference: nn.Module,
    batches: list[np.ndarray],
    *,
    provider: str = "CPUExecutionProvider",
) -> ParityReport:
    """Run ORT and ``reference`` on each uint8 NHWC batch and count values within ``PARITY_LEVELS``."""
    session = ort_session(onnx_path, provider)
    within = total = max_diff = 0
    for batch in batches:
        got = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        with torch.no_grad():
            want = reference(torch.from_numpy(batch)).numpy()
        if got.shape != want.shape or got.dtype != np.uint8:
            raise ExportError(
                f"ONNX output {got.dtype}{got.shape} differs from PyTorch {want.dtype}{want.shape}"
            )
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        within += int((diff <= PARITY_LEVELS).sum())
        total += diff.size
        max_diff = max(max_diff, int(diff.max()))
    sizes = [(int(b.shape[1]), int(b.shape[2])) for b in batches]
    return ParityReport(within / max(total, 1), max_diff, total, sizes, session.get_providers()[0])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def crop_speed(session: Any, crops: Any, output: str, repeats: int = 100) -> tuple[float, float]:
    """Median ms of one ``session.run`` on 1 crop and on a batch of 4 (after 10 warm-up runs)."""
    import time

    res = []
    for n in (1, 4):
        x = np.ascontiguousarray(crops[:n])
        for _ in range(10):
            session.run([output], {INPUT_NAME: x})
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            session.run([output], {INPUT_NAME: x})
            times.append(time.perf_counter() - t0)
        res.append(1000 * float(np.median(times)))
    return res[0], res[1]
