"""The thread budget: the machine's cores divided among the stages that run thread pools.

Every ONNX Runtime session and every codec starts, by default, one thread per core. A five-stage
graph on 2 cores then runs ~8 busy threads that steal time from each other (and from the stages
that cannot spread: face detection, Python glue). Instead the runner gives each stage that takes
a ``threads`` parameter and leaves it at "automatic" a share of the cores, before anything
opens:

- a model stage (``translate``, ``verify``, ``deepfake``, ``predict``: ONNX Runtime) weighs 2;
- a codec (``capture``'s decoder, ``encode``'s encoder) weighs 1;
- each gets ``cores x weight / total`` threads, rounded so that the shares add up to the cores,
  and at least 1 (with more such stages than cores, each gets 1).

A model stage whose session runs on a GPU (``providers: [cuda]``/``[tensorrt]``, or left automatic
on a machine where CUDA works) gets 1 thread and weighs nothing: its work is on the GPU, and more
onnxruntime threads only spin. Measured on an H200 machine with 16 cores, ``file_stylize`` at 1080p
with CUDA: the budget gave the encoder 4 of the 16 cores and the pipeline ran at 46 frames/s,
slower than the naive loop (51) whose encoder took them all. A graph whose every model runs on a
GPU therefore leaves its codecs alone, like a transcode.

A graph without a model stage (a transcode) is left alone: its codecs are the whole job, their
threads sleep rather than spin when idle, and x264 at one thread made ``file_transcode`` 1.3x
slower (wall) than at its default on 2 cores, with no CPU saved. With a model the model is the
bottleneck and one codec thread each costs no frames/s (``benchmarks/bench_threads.py``).

A stage with ``threads`` set in the YAML (or ``--set``) keeps its value and its cores are taken
out of the budget first. ``STREAMER_CORES=N`` says how many cores the budget divides (default:
the cores this process may run on); ``STREAMER_CORES=off`` turns the budget off (every pool
takes its library's default, as before the budget existed: for comparisons). The plan is
printed once at the start of a run (``threads: cam 1, style 1, out 1 (2 cores)``; not with
``--quiet``) and is in ``--json``.

Example on 2 cores, ``graphs/file_stylize.yaml`` (capture → face_detect → translate → encode):
capture 1, translate 1, encode 1 threads (weights 1 + 2 + 1 on 2 cores: every share rounds to
at least one).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any

ENV_VAR = "STREAMER_CORES"
MODEL_WEIGHT = 2
CODEC_WEIGHT = 1


def available_cores() -> int:
    """Cores the budget divides: ``STREAMER_CORES``, else the cores this process may use."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _weight(params: Any) -> int | None:
    """The stage's weight when it takes ``threads`` and leaves it automatic, else None."""
    if "threads" not in type(params).model_fields:
        return None
    if params.threads not in (None, 0):
        return None
    from streamer.stages._model_params import ModelParams

    return MODEL_WEIGHT if isinstance(params, ModelParams) else CODEC_WEIGHT


@functools.cache
def _cuda_works() -> bool:
    from streamer.onnx.providers import CUDA, gpu_problem

    try:
        return gpu_problem(CUDA) is None
    except Exception:  # noqa: BLE001 - no onnxruntime at all: the stage reports it when it opens
        return False


def on_gpu(params: Any) -> bool:
    """True when a model stage's session will run on a GPU provider: the first one asked for is
    a GPU provider, or ``providers`` is automatic and CUDA works here."""
    from streamer.onnx.providers import GPU_PROVIDERS, normalize_providers

    wanted = normalize_providers(getattr(params, "providers", None))
    return _cuda_works() if wanted is None else wanted[0] in GPU_PROVIDERS


def enabled() -> bool:
    """False when ``STREAMER_CORES=off``."""
    return os.environ.get(ENV_VAR, "").strip().lower() != "off"


def plan(stages: dict[str, Any], cores: int | None = None) -> dict[str, int]:
    """Threads for each stage whose params leave ``threads`` automatic; ``stages`` maps a stage
    name to its params. Explicit values elsewhere are subtracted from the cores first."""
    if cores is None and not enabled():
        return {}
    cores = available_cores() if cores is None else max(1, cores)
    from streamer.stages._model_params import ModelParams

    gpu = {
        name: 1
        for name, p in stages.items()
        if isinstance(p, ModelParams) and _weight(p) is not None and on_gpu(p)
    }
    weights = {name: w for name, p in stages.items() if (w := _weight(p)) is not None and name not in gpu}
    cpu_model = any(
        isinstance(p, ModelParams) and not (name in gpu or on_gpu(p)) for name, p in stages.items()
    )
    if not weights or not cpu_model:
        # no model on the CPU: the codecs are the CPU's work, let them take the cores (see above)
        return gpu
    taken = sum(
        int(p.threads)
        for p in stages.values()
        if "threads" in type(p).model_fields and p.threads not in (None, 0)
    )
    free = max(len(weights), cores - taken - len(gpu))
    total = sum(weights.values())
    exact = {name: free * w / total for name, w in weights.items()}
    shares = {name: max(1, math.floor(x)) for name, x in exact.items()}
    left = free - sum(shares.values())
    for name in sorted(exact, key=lambda n: exact[n] - math.floor(exact[n]), reverse=True):
        if left <= 0:
            break
        shares[name] += 1
        left -= 1
    return {**shares, **gpu}


def apply(spec: Any, cores: int | None = None) -> tuple[Any, dict[str, int]]:
    """``spec`` with the planned threads written into each automatic stage's params, and the plan."""
    shares = plan({s.name: s.params for s in spec.stages}, cores)
    if not shares:
        return spec, shares
    stages = tuple(
        dataclasses.replace(s, params=s.params.model_copy(update={"threads": shares[s.name]}))
        if s.name in shares
        else s
        for s in spec.stages
    )
    return dataclasses.replace(spec, stages=stages), shares


def describe(shares: dict[str, int], cores: int | None = None) -> str:
    """``threads: cam 1, style 1, out 1 (2 cores)``."""
    cores = available_cores() if cores is None else cores
    parts = ", ".join(f"{name} {n}" for name, n in shares.items())
    return f"threads: {parts} ({cores} cores; set STAGE.threads to override)"
