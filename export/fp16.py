"""fp16 copies of exported ONNX models, made from the ONNX graph itself, and their parity floors.

``python -m export FAMILY --fp16`` traces a PyTorch module in half precision; it needs the
checkpoint. The shipped models (``models/*.onnx``) and any exported file can also be converted
from the graph: ``to_fp16`` runs ONNX Runtime's float16 converter with the model's inputs and
outputs kept as they are (uint8 pictures in and out, float32 embeddings, states), so a stage
opens the fp16 file exactly like the fp32 one. The converter inserts a Cast per consumer of a
node kept in fp32 and names them after the producer, which duplicates node names in the
recurrent predictor; exact duplicates are dropped (ONNX refuses a graph with two nodes of one
name).

Parity floors against the fp32 model, on the same inputs, on any provider (CPU in CI, CUDA on a
GPU; ``tests/unit/onnx/test_fp16.py``, ``tests/gpu/``):

- uint8 picture outputs: PSNR >= ``FP16_PSNR_FLOOR`` dB (the exporter's floor) and no value more
  than ``FP16_MAX_LEVELS`` levels off;
- float outputs (embeddings, probabilities, flow, state): max |fp16 - fp32| <=
  ``FP16_FLOAT_REL`` of the output's largest magnitude (at least ``FP16_FLOAT_REL`` absolute).

Example::

    python -m export.fp16 models/face_drawing.onnx /tmp/face_drawing_fp16.onnx
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from export.exporter import FP16_PSNR_FLOOR

FP16_MAX_LEVELS = 2
FP16_FLOAT_REL = 1e-2


def to_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write an fp16 copy of ``src`` at ``dst`` (inputs/outputs unchanged, metadata kept, its
    ``precision`` set to fp16); returns ``dst``."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    seen: dict[str, bytes] = {}
    nodes = []
    for node in half.graph.node:
        key = node.SerializeToString()
        if node.name and node.name in seen:
            if seen[node.name] == key:
                continue  # the same Cast inserted twice
            node.name = f"{node.name}_{len(nodes)}"
        seen[node.name] = key
        nodes.append(node)
    del half.graph.node[:]
    half.graph.node.extend(_topological(nodes, half.graph))
    props = {p.key: p for p in half.metadata_props}
    if "streamer_format" in props:
        if "precision" in props:
            props["precision"].value = "fp16"
        else:
            half.metadata_props.add(key="precision", value="fp16")
    onnx.checker.check_model(half)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(half, str(dst))
    return Path(dst)


def _topological(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``nodes`` in an order where each runs after its inputs' producers (the converter appends
    its graph-input Casts at the end; ONNX Runtime sorts, but the checker and other tools do not)."""
    ready = {"", *(i.name for i in graph.input), *(i.name for i in graph.initializer)}
    pending, ordered = list(nodes), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:  # inputs from outside (subgraphs): keep the rest as it was
            ordered.extend(rest)
            break
        for n in done:
            ready.update(n.output)
        ordered.extend(done)
        pending = rest
    return ordered


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 pictures (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def compare(
    fp32: Mapping[str, np.ndarray], fp16: Mapping[str, np.ndarray], *, float_rel: float | None = None
) -> dict[str, str]:
    """Per output, a one-line failure against the floors above (``float_rel`` replaces
    ``FP16_FLOAT_REL`` for float outputs); empty when every output passes."""
    rel = FP16_FLOAT_REL if float_rel is None else float_rel
    problems: dict[str, str] = {}
    for name, a in fp32.items():
        b = fp16[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems[name] = f"expected {a.dtype} {list(a.shape)}, got {b.dtype} {list(b.shape)}"
        elif a.dtype == np.uint8:
            worst = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
            db = psnr(a, b)
            if db < FP16_PSNR_FLOOR or worst > FP16_MAX_LEVELS:
                floors = f"floor {FP16_PSNR_FLOOR:g} dB, {FP16_MAX_LEVELS} levels"
                problems[name] = f"PSNR {db:.1f} dB, max {worst} levels ({floors})"
        else:
            diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
            bound = rel * max(1.0, float(np.abs(a).max()))
            if not diff <= bound:
                problems[name] = f"max difference {diff:.3g} > {bound:.3g}"
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m export.fp16 SRC DST``: write the fp16 copy; exit 1 with one line on failure."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m export.fp16 SRC.onnx DST.onnx", file=sys.stderr)
        return 2
    try:
        out = to_fp16(args[0], args[1])
    except Exception as e:  # noqa: BLE001 - one line for any conversion failure
        print(f"error: {args[0]}: fp16 conversion failed: {str(e).splitlines()[0][:200]}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
