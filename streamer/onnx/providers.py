"""Which onnxruntime execution providers can really run here, decided cheaply and silently.

onnxruntime-gpu lists TensorRT and CUDA as *available* on machines without a GPU and then falls
back to CPU silently when a session is created, so usability is checked up front: the provider
is built in, the NVIDIA driver loads, a device is present, the provider library's CUDA
dependencies load. ``choose_providers`` turns a stage's ``providers`` parameter into the list a
session is created with: in auto mode (``None``) TensorRT → CUDA → CPU, keeping the usable ones
and noting why CUDA is not; a provider asked for by name that cannot work is a one-line error.

Example::

    normalize_providers(["cuda", "cpu"])  # ['CUDAExecutionProvider', 'CPUExecutionProvider']
    chosen, notes = choose_providers(None, path=Path("m.onnx"), name="style")
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamer.model_contract import ModelError

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
SHORT_NAMES = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "cpu": CPU}


def ort() -> Any:
    """The onnxruntime module, imported on first use (importing streamer stays cheap)."""
    import onnxruntime

    return onnxruntime


def normalize_providers(names: Sequence[str] | None) -> list[str] | None:
    """Full onnxruntime provider names for user names (``cuda``, ``tensorrt``/``trt``, ``cpu``,
    ``auto``, or full ``...ExecutionProvider`` names); None means auto.

    Raises ValueError naming the accepted spellings for anything else.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    if [n.strip().lower() for n in names] == ["auto"]:
        return None
    out: list[str] = []
    for name in names:
        full = SHORT_NAMES.get(name.strip().lower())
        if full is None:
            if not name.endswith("ExecutionProvider"):
                raise ValueError(
                    f"unknown provider '{name}': expected auto, tensorrt, cuda, cpu "
                    "or a full onnxruntime name such as CUDAExecutionProvider"
                )
            full = name
        if full not in out:
            out.append(full)
    if not out:
        raise ValueError("providers: expected at least one of tensorrt, cuda, cpu (or leave it out)")
    return out


def _load_lib(names: Sequence[str]) -> tuple[Any, str | None]:
    """The first library of ``names`` that loads, or (None, the first load error)."""
    first_error: str | None = None
    for lib in names:
        try:
            return ctypes.CDLL(lib), None
        except OSError as e:
            first_error = first_error or str(e).splitlines()[0]
    return None, first_error


def driver_problem() -> str | None:
    """Why no CUDA device can be used (no driver, no device), or None; cheap, silent, cached
    (also what the hardware codec probe says when NVDEC/NVENC do not open)."""
    return _driver_problem()


@functools.cache
def _driver_problem() -> str | None:
    """Why no CUDA device can be used (no driver, no device), or None; cheap and silent."""
    libcuda, _ = _load_lib(("libcuda.so.1", "libcuda.so", "nvcuda.dll"))
    if libcuda is None:
        return "no NVIDIA driver (libcuda not found)"
    try:
        err = libcuda.cuInit(0)
        if err != 0:
            return f"no usable CUDA device (cuInit error {err})"
        count = ctypes.c_int(0)
        err = libcuda.cuDeviceGetCount(ctypes.byref(count))
    except AttributeError:  # pragma: no cover - a broken driver library
        return "the NVIDIA driver library lacks cuInit"
    if err != 0 or count.value < 1:
        return "no CUDA device found"
    return None


@functools.cache
def gpu_problem(provider: str) -> str | None:
    """Why ``provider`` (TensorRT or CUDA) cannot run here, or None when it should work.

    Checks only what is cheap and silent: the provider is built into onnxruntime, the driver
    and a device are present, and the provider library's own dependencies (CUDA, cuDNN,
    TensorRT) load. Session creation is still checked afterwards.
    """
    rt = ort()
    short = "TensorRT" if provider == TENSORRT else "CUDA"
    if provider not in rt.get_available_providers():
        return f"this onnxruntime has no {short} provider (pip install onnxruntime-gpu)"
    problem = _driver_problem()
    if problem is not None:
        return problem
    capi = Path(rt.__file__).parent / "capi"
    stem = "tensorrt" if provider == TENSORRT else "cuda"
    candidates = [capi / f"libonnxruntime_providers_{stem}.so", capi / f"onnxruntime_providers_{stem}.dll"]
    lib_path = next((p for p in candidates if p.exists()), None)
    if lib_path is not None:
        _load_lib([str(capi / "libonnxruntime_providers_shared.so")])
        lib, error = _load_lib([str(lib_path)])
        if lib is None and hasattr(rt, "preload_dlls"):
            # CUDA/cuDNN from pip packages or torch's own copies: onnxruntime knows where to look
            try:
                rt.preload_dlls()
            except Exception:  # noqa: BLE001 - the load below says what is missing
                pass
            lib, error = _load_lib([str(lib_path)])
        if lib is None:
            return f"{short} libraries missing ({error})"
    return None


def requested_gpu_error(path: Path, name: str, provider: str, why: str) -> ModelError:
    """The one-line error for a provider asked for by name that cannot be used, with the fix."""
    stage = f"{name}: " if name else ""
    fix = f"--set {name}.providers=[cpu]" if name else "providers: [cpu]"
    return ModelError(
        f"{stage}{path}: {provider} was asked for but cannot be used: {why}; to run on CPU use {fix}"
    )


def short_name(provider: str) -> str:
    """``CUDA`` / ``TensorRT`` for the GPU providers, the full name otherwise (for notes)."""
    return "TensorRT" if provider == TENSORRT else "CUDA" if provider == CUDA else provider


def choose_providers(wanted: list[str] | None, *, path: Path, name: str = "") -> tuple[list[str], list[str]]:
    """(providers to create the session with, notes on GPUs not used) for ``wanted`` (normalised
    names, or None for auto). CPU is always last, so nodes a GPU provider lacks still run."""
    available = ort().get_available_providers()
    notes: list[str] = []
    if wanted is None:
        chosen = []
        for provider in GPU_PROVIDERS:
            if provider not in available:
                continue
            problem = gpu_problem(provider)
            if problem is None:
                chosen.append(provider)
            elif provider == CUDA:  # TensorRT's absence is normal; CUDA's is worth a note
                notes.append(f"CUDA not usable: {problem}")
        return [*chosen, CPU], notes
    for provider in wanted:
        if provider in GPU_PROVIDERS:
            problem = gpu_problem(provider)
            if problem is not None:
                raise requested_gpu_error(path, name, provider, problem)
        elif provider not in available:
            raise ModelError(
                f"{name + ': ' if name else ''}{path}: provider {provider} is not in this "
                f"onnxruntime (available: {', '.join(available)})"
            )
    return (wanted if CPU in wanted else [*wanted, CPU]), notes
