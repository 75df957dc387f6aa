"""OnnxModel: the one place that talks to onnxruntime.

It builds an ``InferenceSession`` with an explicit provider list, reads the model's streamer
metadata (DESIGN 3.2), checks the inputs and outputs against what the caller needs, pads images
to the model's size multiple and crops the result back, warms up, and under CUDA keeps inputs and
outputs in device buffers with IO binding.

Providers. ``providers=None`` (or ``["auto"]``) means TensorRT → CUDA → CPU, keeping only those
that can really work here: onnxruntime-gpu lists TensorRT and CUDA as *available* on machines
without a GPU and then falls back to CPU silently when a session is created, so usability is
decided cheaply up front (provider built in, NVIDIA driver loadable, a device present, the
provider library's CUDA dependencies loadable). In auto mode an unusable GPU is fine, and
``describe()`` says why it is not used. A provider asked for by name (``providers: [cuda]``)
that the session does not end up using is an error, never a silent CPU run.

Models. Our exported models take ``image`` uint8 [N, H, W, 3] RGB and return uint8 images; all
arithmetic lives in the graph. "Foreign" models (no ``streamer_format`` metadata) take float
input: the stage names their ``input_range``, ``layout`` and ``channel_order`` and the
conversion is done here in numpy. Example::

    model = OnnxModel("models/face_drawing.onnx", providers=["cpu"], threads=2, name="style")
    print(model.describe())  # models/face_drawing.onnx on CPUExecutionProvider, 2 threads
    model.warmup()
    out = model.run(images)  # uint8 [N, H, W, 3] in, same shape out
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.errors import StreamerError

InputRange = Literal["0,1", "-1,1", "0,255"]
Layout = Literal["nhwc", "nchw"]
ChannelOrder = Literal["rgb", "bgr"]

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
SHORT_NAMES = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "cpu": CPU}
STREAMER_FORMAT = "1"
_RANGES: dict[str, tuple[float, float]] = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}


class ModelError(StreamerError):
    """A model file is missing, corrupt, or not what the stage needs; or its provider is unusable."""


def normalize_range(value: str) -> str:
    """``"-1..1"`` (export's spelling), ``"-1, 1"`` and ``"-1,1"`` all become ``"-1,1"``."""
    return value.replace("..", ",").replace(" ", "")


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


# --------------------------------------------------------------------------- provider checks


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def _load_lib(names: Sequence[str]) -> tuple[Any, str | None]:
    """The first library of ``names`` that loads, or (None, the first load error)."""
    first_error: str | None = None
    for lib in names:
        try:
            return ctypes.CDLL(lib), None
        except OSError as e:
            first_error = first_error or str(e).splitlines()[0]
    return None, first_error


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
    ort = _ort()
    short = "TensorRT" if provider == TENSORRT else "CUDA"
    if provider not in ort.get_available_providers():
        return f"this onnxruntime has no {short} provider (pip install onnxruntime-gpu)"
    problem = _driver_problem()
    if problem is not None:
        return problem
    capi = Path(ort.__file__).parent / "capi"
    stem = "tensorrt" if provider == TENSORRT else "cuda"
    candidates = [capi / f"libonnxruntime_providers_{stem}.so", capi / f"onnxruntime_providers_{stem}.dll"]
    lib_path = next((p for p in candidates if p.exists()), None)
    if lib_path is not None:
        _load_lib([str(capi / "libonnxruntime_providers_shared.so")])
        lib, error = _load_lib([str(lib_path)])
        if lib is None:
            return f"{short} libraries missing ({error})"
    return None


def _requested_gpu_error(path: Path, name: str, provider: str, why: str) -> ModelError:
    stage = f"{name}: " if name else ""
    fix = f"--set {name}.providers=[cpu]" if name else "providers: [cpu]"
    return ModelError(
        f"{stage}{path}: {provider} was asked for but cannot be used: {why}; to run on CPU use {fix}"
    )


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class ModelInfo:
    """What the model's metadata says (DESIGN 3.2); ``foreign`` models carry none of it."""

    foreign: bool
    family: str | None = None
    task: str | None = None
    size_multiple: int = 1
    preferred_size: int | None = None
    input_range: str | None = None
    source: str | None = None
    streamer_format: str | None = None


def _parse_info(path: Path, meta: Mapping[str, str]) -> ModelInfo:
    fmt = meta.get("streamer_format")
    if fmt is None:
        return ModelInfo(foreign=True)
    if fmt != STREAMER_FORMAT:
        raise ModelError(
            f"{path}: streamer_format {fmt!r} is not supported (expected {STREAMER_FORMAT!r}); "
            "re-export the model with this version's `python -m export`"
        )

    def number(key: str) -> int | None:
        raw = meta.get(key)
        if raw is None or raw == "":
            return None
        try:
            value = int(str(raw).lower().split("x")[0].split(",")[0])
        except ValueError:
            raise ModelError(f"{path}: metadata {key}={raw!r}, expected a whole number") from None
        if value < 1:
            raise ModelError(f"{path}: metadata {key}={raw!r}, expected a number >= 1")
        return value

    rng = meta.get("input_range")
    if rng is not None:
        rng = normalize_range(rng)
        if rng not in _RANGES:
            raise ModelError(
                f"{path}: metadata input_range={meta['input_range']!r}, expected one of -1..1, 0..1, 0..255"
            )
    return ModelInfo(
        foreign=False,
        family=meta.get("family"),
        task=meta.get("task"),
        size_multiple=number("size_multiple") or 1,
        preferred_size=number("preferred_size"),
        input_range=rng,
        source=meta.get("source"),
        streamer_format=fmt,
    )


def _describe_io(args: Sequence[Any]) -> str:
    return ", ".join(f"'{a.name}' {a.type} {list(a.shape)}" for a in args) or "none"


_NP_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(float16)": np.float16}


# --------------------------------------------------------------------------- the model


class OnnxModel:
    """An ONNX model opened on explicit providers, with image pre/post-processing.

    ``kind="image"`` (default) requires an image-to-image model and enables ``run``;
    ``kind="any"`` only opens the session, for ``run_raw`` (embeddings, classifiers, ...).
    ``input_range``, ``layout`` and ``channel_order`` are for foreign models only.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        name: str = "",
        kind: Literal["image", "any"] = "image",
        input_range: str | None = None,
        layout: Layout | None = None,
        channel_order: ChannelOrder | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.threads = threads
        self.kind = kind
        try:
            wanted = normalize_providers(providers)
        except ValueError as e:
            raise ModelError(f"{name + ': ' if name else ''}{e}") from None
        self.explicit = wanted is not None
        if not self.path.is_file():
            what = "is a folder, not a model file" if self.path.is_dir() else "not found"
            raise ModelError(f"model file {what}: {self.path} (expected an .onnx file; check the path)")
        self.notes: list[str] = []  # why GPU providers are not used (auto mode)
        self.requested = self._choose_providers(wanted)
        self.session = self._create_session()
        self.providers: list[str] = list(self.session.get_providers())
        self._check_providers_used()
        self.info = _parse_info(self.path, self.session.get_modelmeta().custom_metadata_map)
        self._inputs = self.session.get_inputs()
        self._outputs = self.session.get_outputs()
        self.on_device = self.providers[0] in GPU_PROVIDERS
        self._binding: Any = None
        self._bound_in: dict[str, Any] = {}  # input name -> OrtValue on the device
        self._bound_out: Any = None  # (input shape, OrtValue) of the image output
        self._out_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
        if kind == "image":
            self._setup_image_io(input_range, layout, channel_order)
        elif any(v is not None for v in (input_range, layout, channel_order)):
            raise ModelError(f"{self.path}: input_range/layout/channel_order apply to image models only")

    # ----------------------------------------------------------------- session

    def _choose_providers(self, wanted: list[str] | None) -> list[str]:
        ort = _ort()
        available = ort.get_available_providers()
        if wanted is None:
            chosen = []
            for provider in GPU_PROVIDERS:
                if provider not in available:
                    continue
                problem = gpu_problem(provider)
                if problem is None:
                    chosen.append(provider)
                elif provider == CUDA:  # TensorRT's absence is normal; CUDA's is worth a note
                    self.notes.append(f"CUDA not usable: {problem}")
            return [*chosen, CPU]
        for provider in wanted:
            if provider in GPU_PROVIDERS:
                problem = gpu_problem(provider)
                if problem is not None:
                    raise _requested_gpu_error(self.path, self.name, provider, problem)
            elif provider not in available:
                raise ModelError(
                    f"{self.name + ': ' if self.name else ''}{self.path}: provider {provider} is not in this "
                    f"onnxruntime (available: {', '.join(available)})"
                )
        # CPU stays last so nodes a GPU provider lacks still run; the first provider is checked
        return wanted if CPU in wanted else [*wanted, CPU]

    def _create_session(self) -> Any:
        ort = _ort()
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
                raise _requested_gpu_error(self.path, self.name, provider, why)
            short = "TensorRT" if provider == TENSORRT else "CUDA" if provider == CUDA else provider
            self.notes.append(f"{short} not usable: {why}")

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
        if not self.info.foreign:
            parts.append(f", {self.info.family or 'unknown'} family")
        else:
            parts.append(", foreign model (no streamer metadata)")
        return "".join(parts)

    # ----------------------------------------------------------------- image models

    def _setup_image_io(
        self, input_range: str | None, layout: Layout | None, channel_order: ChannelOrder | None
    ) -> None:
        given = [
            k
            for k, v in (("input_range", input_range), ("layout", layout), ("channel_order", channel_order))
            if v
        ]
        if not self.info.foreign:
            if given:
                raise ModelError(
                    f"{self.path}: {', '.join(given)} given, but this model's metadata fixes them "
                    "(it takes uint8 RGB NHWC); remove them from the stage"
                )
            inp = next((a for a in self._inputs if a.name == "image"), None)
            if inp is None or inp.type != "tensor(uint8)" or len(inp.shape) != 4:
                got = _describe_io(self._inputs)
                raise ModelError(f"{self.path}: expected input 'image' uint8 [N, H, W, 3], got {got}")
            out = next((a for a in self._outputs if a.name == "image"), None)
            out = out or next(
                (a for a in self._outputs if a.type == "tensor(uint8)" and len(a.shape) == 4), None
            )
            if out is None:
                got = _describe_io(self._outputs)
                raise ModelError(f"{self.path}: expected an image output uint8 [N, H, W, 3], got {got}")
            self._in, self._out = inp, out
            self.layout: Layout = "nhwc"
            self.channel_order: ChannelOrder = "rgb"
            self.input_range: str | None = None
            return
        # foreign: the first input and output, converted here
        inp, out = self._inputs[0], self._outputs[0]
        if len(inp.shape) != 4 or inp.type not in _NP_TYPES:
            got = _describe_io(self._inputs)
            raise ModelError(f"{self.path}: expected an image input of rank 4 (uint8 or float), got {got}")
        if len(out.shape) != 4 or out.type not in _NP_TYPES:
            got = _describe_io(self._outputs)
            raise ModelError(f"{self.path}: expected an image output of rank 4 (uint8 or float), got {got}")
        if layout is None:
            if inp.shape[1] == 3 and inp.shape[3] != 3:
                layout = "nchw"
            elif inp.shape[3] == 3 and inp.shape[1] != 3:
                layout = "nhwc"
            else:
                raise ModelError(
                    f"{self.path}: no streamer metadata and input shape {list(inp.shape)} does not show the "
                    "layout; set layout: nchw or nhwc for this stage"
                )
        if input_range is None:
            if inp.type != "tensor(uint8)":
                raise ModelError(
                    f"{self.path}: no streamer metadata and {inp.type} input; set input_range "
                    "(0,1 | -1,1 | 0,255) for this stage"
                )
            input_range = "0,255"
        input_range = normalize_range(input_range)
        if input_range not in _RANGES:
            raise ModelError(f"{self.path}: input_range {input_range!r}, expected one of 0,1 | -1,1 | 0,255")
        channels = inp.shape[1] if layout == "nchw" else inp.shape[3]
        if isinstance(channels, int) and channels != 3:
            raise ModelError(
                f"{self.path}: layout {layout}: input {list(inp.shape)} has {channels} channels, expected 3"
            )
        self._in, self._out = inp, out
        self.layout = layout
        self.channel_order = channel_order or "rgb"
        self.input_range = input_range

    @property
    def size_multiple(self) -> int:
        return self.info.size_multiple

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) when the model only takes one spatial size (some foreign models), else None."""
        shape = self._in.shape
        h, w = (shape[2], shape[3]) if self.layout == "nchw" else (shape[1], shape[2])
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def preferred_size(self, default: int = 256) -> int:
        """The square size to warm up and to crop faces at: fixed, preferred, or ``default``."""
        fixed = self.fixed_size
        if fixed:
            return max(fixed)
        return self.round_size(self.info.preferred_size or default)

    def round_size(self, size: int) -> int:
        """``size`` rounded up to the model's size multiple."""
        m = self.size_multiple
        return max(m, -(-int(size) // m) * m)

    def warmup(self, size: int | tuple[int, int] | None = None) -> None:
        """One run on a blank image (H, W or square ``size``; default the preferred size), so
        the first real frame does not pay for allocations and kernel selection."""
        if self.kind != "image":
            raise ModelError(f"{self.path}: warmup() needs an image model; call run_raw instead")
        if size is None:
            size = self.preferred_size()
        h, w = (size, size) if isinstance(size, int) else size
        self.run(np.zeros((1, int(h), int(w), 3), np.uint8))

    def run(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] RGB in, uint8 [N, H, W, 3] RGB out (scaled if the model upscales).

        H and W are reflect-padded up to the size multiple and cropped back; fixed-size foreign
        models get the input resized to their size and the output resized back.
        """
        if self.kind != "image":
            raise ModelError(f"{self.path}: run() needs an image model; use run_raw")
        if not (
            isinstance(images, np.ndarray)
            and images.dtype == np.uint8
            and images.ndim == 4
            and images.shape[3] == 3
        ):
            got = (
                f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            )
            raise ValueError(f"OnnxModel.run: expected uint8 array [N, H, W, 3], got {got}")
        n, h, w, _ = images.shape
        fixed = self.fixed_size
        if fixed is not None:
            return self._run_fixed(images, fixed)
        m = self.size_multiple
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        x = images
        if ph or pw:
            mode: Literal["reflect", "edge"] = "reflect" if ph < h and pw < w else "edge"
            x = np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
        batch = self._in.shape[0]
        if isinstance(batch, int) and batch != n:
            y = np.concatenate([self._infer_image(x[i : i + batch]) for i in range(0, n, batch)])
        else:
            y = self._infer_image(x)
        if y.shape[0] != n or y.shape[3] != 3:
            raise ModelError(f"{self.path}: expected output [{n}, H, W, 3], got {list(y.shape)}")
        sy, sx = y.shape[1] / x.shape[1], y.shape[2] / x.shape[2]
        oh, ow = round(h * sy), round(w * sx)
        return y[:, :oh, :ow] if (oh, ow) != y.shape[1:3] else y

    def _run_fixed(self, images: np.ndarray, fixed: tuple[int, int]) -> np.ndarray:
        import cv2

        n, h, w, _ = images.shape
        fh, fw = fixed
        if (h, w) == (fh, fw):
            x = images
        else:
            interp = cv2.INTER_AREA if fh * fw < h * w else cv2.INTER_LINEAR
            x = np.stack([cv2.resize(im, (fw, fh), interpolation=interp) for im in images])
        y = np.concatenate([self._infer_image(x[i : i + 1]) for i in range(n)])
        if y.shape[1:3] == (h, w):
            return y
        interp = cv2.INTER_AREA if h * w < y.shape[1] * y.shape[2] else cv2.INTER_LINEAR
        return np.stack([cv2.resize(im, (w, h), interpolation=interp) for im in y])

    def _infer_image(self, x: np.ndarray) -> np.ndarray:
        """uint8 NHWC RGB → the model's input convention → run → uint8 NHWC RGB."""
        if self.info.foreign:
            x = self._to_foreign(x)
        y = self._infer(x)
        if self.info.foreign:
            y = self._from_foreign(y)
        if y.dtype != np.uint8 or y.ndim != 4:
            raise ModelError(
                f"{self.path}: expected output uint8 [N, H, W, 3], got {y.dtype} {list(y.shape)}"
            )
        return y

    def _to_foreign(self, x: np.ndarray) -> np.ndarray:
        if self.channel_order == "bgr":
            x = x[..., ::-1]
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        dtype = _NP_TYPES[self._in.type]
        if dtype == np.uint8:
            return np.ascontiguousarray(x)
        lo, hi = _RANGES[self.input_range or "0,255"]
        y = x.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        return np.ascontiguousarray(y.astype(dtype, copy=False))

    def _from_foreign(self, y: np.ndarray) -> np.ndarray:
        if self.layout == "nchw":
            y = y.transpose(0, 2, 3, 1)
        if y.dtype != np.uint8:
            lo, hi = _RANGES[self.input_range or "0,255"]
            y = (y.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
            y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
        if self.channel_order == "bgr":
            y = y[..., ::-1]
        return np.ascontiguousarray(y)

    # ----------------------------------------------------------------- inference

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Run the image input → image output; on a GPU through IO binding with reused buffers."""
        if not self.on_device:
            return self.session.run([self._out.name], {self._in.name: x})[0]
        ort = _ort()
        binding = self._binding = self._binding or self.session.io_binding()
        self._bind_input(binding, self._in.name, x)
        out_shape = self._out_shapes.get(x.shape)
        if out_shape is None:  # first call at this shape: let onnxruntime allocate, note the shape
            binding.bind_output(self._out.name, "cuda", 0)
            self.session.run_with_iobinding(binding)
            result = binding.get_outputs()[0]
            self._out_shapes[x.shape] = tuple(result.shape())
            return result.numpy()
        if self._bound_out is None or self._bound_out[0] != x.shape:
            dtype = _NP_TYPES[self._out.type]
            value = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, dtype, "cuda", 0)
            self._bound_out = (x.shape, value)
        binding.bind_ortvalue_output(self._out.name, self._bound_out[1])
        self.session.run_with_iobinding(binding)
        return self._bound_out[1].numpy()

    def _bind_input(self, binding: Any, name: str, x: np.ndarray) -> None:
        """Copy ``x`` into this input's device buffer (reused while the shape stays the same)."""
        ort = _ort()
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
            self._bind_input(binding, name, value)
        for name in names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return {name: value.numpy() for name, value in zip(names, binding.get_outputs(), strict=True)}

    @property
    def metadata(self) -> dict[str, str]:
        """The model's custom metadata (DESIGN 3.2: family, task, size_multiple, ...)."""
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
