"""OnnxSession: an onnxruntime session on explicit providers, its metadata, and IO binding.

It opens the file (one-line errors for a missing, folder or corrupt file), creates the session
with the providers :func:`streamer.onnx.providers.choose_providers` picked, checks onnxruntime
really used the first one (it drops a provider it cannot load and carries on), reads the model's
metadata into the contract's :class:`~streamer.model_contract.ModelMetadata` (``None`` for a
foreign model), and runs named inputs to named outputs; under CUDA inputs and outputs stay in
device buffers through IO binding, reused while the shapes stay the same.

IO binding is the same code on every provider: ``io_binding=True`` binds through the CPU
provider too (OrtValues on "cpu"), so CI exercises the binding and device-state paths that a
GPU runs. ``run_bound`` keeps chosen outputs (a recurrent model's state) as OrtValues on the
session's device and takes OrtValues back as inputs: under CUDA the state never leaves the GPU.

Example::

    session = OnnxSession("models/embedder.onnx", providers=["cpu"], threads=2, name="verify")
    out = session.run_raw({"image": crops})  # {"embedding": float32 [N, D]}
    step = session.run_bound(feeds, keep=["state_out"])  # step["state_out"]: an OrtValue
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamer.model_contract import MetadataError, ModelError, ModelMetadata, is_streamer_model
from streamer.onnx import providers as _providers
from streamer.onnx.providers import CPU, CUDA, GPU_PROVIDERS, TENSORRT

NP_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(float16)": np.float16}
_ORT_TYPE = {np.dtype(v): k for k, v in NP_TYPES.items()}


def is_ortvalue(value: Any) -> bool:
    """True for an onnxruntime OrtValue (state kept on the device), False for numpy and others."""
    return type(value).__name__ == "OrtValue"


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
        io_binding: bool | None = None,
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
        #: where bound inputs and outputs live: the GPU's memory, or the host's for CPU sessions
        self.device = "cuda" if self.on_device else "cpu"
        #: IO binding: always on a GPU; on CPU only when asked (tests, or to mirror the GPU path)
        self.binds = self.on_device if io_binding is None else (self.on_device or bool(io_binding))
        self._bound_in: dict[str, Any] = {}  # input name -> OrtValue on the device
        #: every input shape the session has run, with counts (batch bins: see OnnxModel)
        self.shapes_run: dict[tuple[int, ...], int] = {}

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
            gpu = next((p for p in self.requested if p in GPU_PROVIDERS), None)
            if gpu is None:
                raise ModelError(f"{self.path}: not a valid ONNX model ({detail})") from None
            return self._after_gpu_failure(ort, options, gpu, detail)

    def _after_gpu_failure(self, ort: Any, options: Any, gpu: str, detail: str) -> Any:
        """Session creation failed with a GPU provider: a bad file, or the GPU provider failing
        to start (CUDA out of memory, a driver/toolkit mismatch). The CPU provider tells which:
        a file it opens is fine, so the GPU failed: one line when it was asked for by name, a
        note (shown by ``describe``) and the CPU session in auto mode; never silent."""
        try:
            session = ort.InferenceSession(str(self.path), sess_options=options, providers=[CPU])
        except Exception:  # noqa: BLE001 - the file itself is bad
            raise ModelError(f"{self.path}: not a valid ONNX model ({detail})") from None
        why = f"creating the session on it failed ({detail})"
        if self.explicit:
            raise _providers.requested_gpu_error(self.path, self.name, gpu, why)
        self.notes.append(f"{_providers.short_name(gpu)} not usable: {why}")
        self.requested = [CPU]
        return session

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
        """Copy ``x`` into this input's device buffer (reused while the shape stays the same).

        On "cpu" an OrtValue made from an array wraps that array's memory, so the buffer is a
        private copy: ``update_inplace`` must never write into the caller's array."""
        ort = _providers.ort()
        x = np.ascontiguousarray(x)
        value: Any = self._bound_in.get(name)
        same = value is not None and tuple(value.shape()) == x.shape
        if same and value.data_type() == _ORT_TYPE.get(x.dtype):
            value.update_inplace(x)
        else:
            value = ort.OrtValue.ortvalue_from_numpy(x.copy() if self.device == "cpu" else x, self.device, 0)
            self._bound_in[name] = value
        binding.bind_ortvalue_input(name, value)

    def to_numpy(self, value: Any) -> np.ndarray:
        """A host copy of an OrtValue (on "cpu" ``numpy()`` is a view of the value's memory,
        which a reused buffer or the next run would overwrite)."""
        out = value.numpy()
        return np.array(out, copy=True) if self.device == "cpu" else out  # type: ignore[no-any-return]

    def note_shape(self, shape: tuple[int, ...]) -> None:
        """Count a run at this input shape (``shapes_run``)."""
        self.shapes_run[shape] = self.shapes_run.get(shape, 0) + 1

    def _check_feeds(self, feeds: Mapping[str, Any]) -> None:
        expected = {a.name for a in self._inputs}
        if set(feeds) != expected:
            raise ModelError(f"{self.path}: expected inputs {sorted(expected)}, got {sorted(feeds)}")

    def run_raw(
        self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Any model: named numpy inputs in, named numpy outputs (all, or ``outputs``) out."""
        if not self.binds:
            self._check_feeds(feeds)
            names = list(outputs) if outputs is not None else [o.name for o in self._outputs]
            first = next(iter(feeds.values()), None)
            if isinstance(first, np.ndarray):
                self.note_shape(first.shape)
            return dict(zip(names, self.session.run(names, dict(feeds)), strict=True))
        return self.run_bound(feeds, outputs=outputs)  # type: ignore[return-value]

    def run_bound(
        self,
        feeds: Mapping[str, Any],
        *,
        keep: Collection[str] = (),
        outputs: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Named inputs (numpy arrays, or OrtValues from an earlier ``keep``) in; outputs named in
        ``keep`` come back as OrtValues left on the session's device, the others as numpy.

        Without IO binding (CPU sessions by default) kept outputs are numpy arrays and numpy
        inputs go straight to ``run``: callers treat the values as opaque either way."""
        self._check_feeds(feeds)
        names = list(outputs) if outputs is not None else [o.name for o in self._outputs]
        first = next(iter(feeds.values()))
        if hasattr(first, "shape") and isinstance(first.shape, tuple):
            self.note_shape(first.shape)
        if not self.binds:
            plain = {k: (v.numpy() if is_ortvalue(v) else v) for k, v in feeds.items()}
            return dict(zip(names, self.session.run(names, plain), strict=True))
        binding = self.session.io_binding()
        for name, value in feeds.items():
            if is_ortvalue(value):
                binding.bind_ortvalue_input(name, value)
            else:
                self.bind_input(binding, name, value)
        for name in names:
            binding.bind_output(name, self.device, 0)
        self.session.run_with_iobinding(binding)
        values = binding.get_outputs()
        return {
            name: value if name in keep else self.to_numpy(value)
            for name, value in zip(names, values, strict=True)
        }

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


__all__ = ["CPU", "CUDA", "NP_TYPES", "ModelInfo", "OnnxSession", "describe_io", "is_ortvalue", "read_record"]
