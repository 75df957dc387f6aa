"""OnnxSession: an onnxruntime session on explicit providers, its metadata, and IO binding.

It opens the file (one-line errors for a missing, folder or corrupt file), creates the session
with the providers :func:`streamer.onnx.providers.choose_providers` picked, checks onnxruntime
really used the first one (it drops a provider it cannot load and carries on), reads the model's
metadata into the contract's :class:`~streamer.model_contract.ModelMetadata` (``None`` for a
foreign model), and runs named inputs to named outputs; under CUDA inputs and outputs stay in
device buffers through IO binding, reused while the shapes stay the same.

Example::

    session = OnnxSession("models/embedder.onnx", providers=["cpu"], threads=2, name="verify")
    out = session.run_raw({"image": crops})  # {"embedding": float32 [N, D]}
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamer.model_contract import MetadataError, ModelError, ModelMetadata, is_streamer_model
from streamer.onnx import providers as _providers
from streamer.onnx.providers import CPU, CUDA, GPU_PROVIDERS, TENSORRT

NP_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass(frozen=True)
class ModelInfo:
    """What the model's metadata says (DESIGN 3.2); ``foreign`` models carry none of it.
    A summary of :class:`ModelMetadata` kept for callers of ``OnnxModel.info``."""

    foreign: bool
    family: str | None = None
    task: str | None = None
    size_multiple: int = 1
    preferred_size: int | None = None
    input_range: str | None = None
    source: str | None = None
    streamer_format: str | None = None


def describe_io(args: Sequence[Any]) -> str:
    """``'image' tensor(uint8) [N, H, W, 3], ...`` for error messages."""
    return ", ".join(f"'{a.name}' {a.type} {list(a.shape)}" for a in args) or "none"


def read_record(path: Path, meta: Mapping[str, str]) -> ModelMetadata | None:
    """The contract record of a model's metadata, None for a foreign model; errors name the file."""
    if not is_streamer_model(meta):
        return None
    try:
        return ModelMetadata.from_metadata(meta)
    except MetadataError as e:
        raise MetadataError(f"{path}: {e}") from None


class OnnxSession:
    """An ONNX model opened on explicit providers; ``run_raw`` for any model (see the module doc)."""

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        name: str = "",
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.threads = threads
        try:
            wanted = _providers.normalize_providers(providers)
        except ValueError as e:
            raise ModelError(f"{name + ': ' if name else ''}{e}") from None
        self.explicit = wanted is not None
        if not self.path.is_file():
            what = "is a folder, not a model file" if self.path.is_dir() else "not found"
            raise ModelError(f"model file {what}: {self.path} (expected an .onnx file; check the path)")
        self.requested, self.notes = _providers.choose_providers(wanted, path=self.path, name=name)
        self.session = self._create_session()
        self.providers: list[str] = list(self.session.get_providers())
        self._check_providers_used()
        self.record: ModelMetadata | None = read_record(self.path, self.metadata)
        self._inputs = self.session.get_inputs()
        self._outputs = self.session.get_outputs()
        self.on_device = self.providers[0] in GPU_PROVIDERS
        self._bound_in: dict[str, Any] = {}  # input name -> OrtValue on the device

    def _create_session(self) -> Any:
        ort = _providers.ort()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        # no spin-waiting between ops: every stage of a graph has its own thread and often its own
        # session; spinning workers steal the cores the other stages need (measured: a 256x256
        # generator cost 56 ms of CPU per frame with spinning vs 31 ms without, under load)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        provider_args: list[Any] = []
        for provider in self.requested:
            if provider == TENSORRT:
                cache = (
                    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamer" / "tensorrt"
                )
                cache.mkdir(parents=True, exist_ok=True)
                provider_args.append(
                    (provider, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)})
                )
            else:
                provider_args.append(provider)
        try:
            return ort.InferenceSession(str(self.path), sess_options=options, providers=provider_args)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for bad files
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if len(detail) > 160:
                detail = detail[:157] + "..."
            raise ModelError(f"{self.path}: not a valid ONNX model ({detail})") from None

    def _check_providers_used(self) -> None:
        """onnxruntime drops a provider it cannot load and carries on; catch that here."""
        for provider in self.requested:
            if provider in self.providers:
                continue
            why = f"onnxruntime left it out when creating the session (running on {self.providers[0]})"
            if self.explicit:
                raise _providers.requested_gpu_error(self.path, self.name, provider, why)
            self.notes.append(f"{_providers.short_name(provider)} not usable: {why}")

    @property
    def foreign(self) -> bool:
        """True for a model without our metadata (its conventions come from the stage's params)."""
        return self.record is None

    @property
    def info(self) -> ModelInfo:
        """The metadata summary (family, task, size multiple, ...); ``foreign`` when there is none."""
        r = self.record
        if r is None:
            return ModelInfo(foreign=True)
        return ModelInfo(
            foreign=False,
            family=r.family,
            task=r.task,
            size_multiple=r.size_multiple,
            preferred_size=r.preferred_size,
            input_range=r.input_range,
            source=r.source or None,
            streamer_format=r.streamer_format,
        )

    def describe(self) -> str:
        """The one line printed at start: file, provider actually used, why not a GPU, threads."""
        parts = [f"{self.path} on {self.providers[0]}"]
        if self.notes:
            parts.append(f" ({'; '.join(self.notes)})")
        if not self.on_device:
            threads = self.threads or self.session.get_session_options().intra_op_num_threads
            parts.append(
                f", {threads} thread{'s' if threads != 1 else ''}" if threads else ", default threads"
            )
        if self.record is not None:
            parts.append(f", {self.record.family} family")
        else:
            parts.append(", foreign model (no streamer metadata)")
        return "".join(parts)

    # ----------------------------------------------------------------- inference

    def bind_input(self, binding: Any, name: str, x: np.ndarray) -> None:
        """Copy ``x`` into this input's device buffer (reused while the shape stays the same)."""
        ort = _providers.ort()
        x = np.ascontiguousarray(x)
        value = self._bound_in.get(name)
        if value is not None and tuple(value.shape()) == x.shape:
            value.update_inplace(x)
        else:
            value = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
            self._bound_in[name] = value
        binding.bind_ortvalue_input(name, value)

    def run_raw(
        self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Any model: named numpy inputs in, named numpy outputs (all, or ``outputs``) out."""
        names = list(outputs) if outputs is not None else [o.name for o in self._outputs]
        expected = {a.name for a in self._inputs}
        if set(feeds) != expected:
            raise ModelError(f"{self.path}: expected inputs {sorted(expected)}, got {sorted(feeds)}")
        if not self.on_device:
            return dict(zip(names, self.session.run(names, dict(feeds)), strict=True))
        binding = self.session.io_binding()
        for name, value in feeds.items():
            self.bind_input(binding, name, value)
        for name in names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return {name: value.numpy() for name, value in zip(names, binding.get_outputs(), strict=True)}

    @property
    def metadata(self) -> dict[str, str]:
        """The model's custom metadata as stored (DESIGN 3.2: family, task, size_multiple, ...)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def inputs(self) -> list[Any]:
        """The graph inputs (each with .name, .type such as 'tensor(uint8)', .shape)."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[Any]:
        """The graph outputs (each with .name, .type, .shape)."""
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return [a.name for a in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return [a.name for a in self._outputs]


__all__ = ["CPU", "CUDA", "NP_TYPES", "ModelInfo", "OnnxSession", "describe_io", "read_record"]
