"""One resolver for how pictures enter a model: layout, channel order, dtype, normalisation, size.

Our models (``python -m export``, metadata per :mod:`streamer.model_contract`) take uint8 RGB
NHWC and carry their normalisation inside the graph, so nothing is resolved for them beyond the
size. "Foreign" models need the rest, resolved like timm's ``resolve_data_config``, each layer
overriding the one before:

1. what the model's input tensor says: its dtype, a layout read from the shape (the axis of 3
   channels), a fixed H x W;
2. what its metadata says (ours: uint8 RGB NHWC fixed by the contract, ``input_size`` /
   ``preferred_size`` for the size);
3. the stage's parameters (``input_range`` *or* ``mean``/``std`` in 0..255 pixel units,
   ``layout``, ``channel_order``, ``size``).

What a layer cannot override is an error naming the fix: normalisation, layout or channel order
given for one of our models (its graph fixes them), normalisation for a uint8 input (the model
takes pixels as they are), a size that a fixed-size model cannot take (face models). A range
is a mean/std in other words: ``-1..1`` is mean 127.5, std 127.5; ``0..1`` is mean 0, std 255.

Example (an ArcFace-style embedder: float NCHW, 112 x 112)::

    pre = resolve(model.inputs[0], None, PreprocessParams(mean=[127.5], std=[127.5]), path=p, name="verify")
    x = pre.to_input(crops)  # float32 [N, 3, 112, 112] = (pixel - 127.5) / 127.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.model_contract import INPUT_RANGES, MetadataError, ModelError, ModelMetadata, canonical_range

Layout = Literal["nhwc", "nchw"]
ChannelOrder = Literal["rgb", "bgr"]
_DTYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass(frozen=True, kw_only=True)
class PreprocessParams:
    """What a stage's parameters say about a foreign model's input (None: not given)."""

    input_range: str | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    layout: Layout | None = None
    channel_order: ChannelOrder | None = None
    size: int | None = None

    @classmethod
    def of(
        cls,
        *,
        input_range: str | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        layout: Layout | None = None,
        channel_order: ChannelOrder | None = None,
        size: int | None = None,
    ) -> PreprocessParams:
        """From keyword arguments as callers give them: one number for ``mean``/``std`` means
        the same for every channel."""
        return cls(
            input_range=input_range,
            mean=[mean] if isinstance(mean, int | float) else mean,
            std=[std] if isinstance(std, int | float) else std,
            layout=layout,
            channel_order=channel_order,
            size=size,
        )

    def given(self) -> list[str]:
        """The names of the normalisation/layout/order parameters that were given."""
        keys = ("input_range", "mean", "std", "layout", "channel_order")
        return [k for k in keys if getattr(self, k) is not None]


def _triple(value: float | Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(value, np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3:
        raise ModelError(f"{what}: expected one number or three (one per channel), got {list(arr)}")
    return arr


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """The resolved input convention; ``to_input`` / ``from_output`` apply it to uint8 RGB NHWC.

    Normalisation is ``x * scale + offset`` per channel (``scale = 1 / std``, ``offset = -mean /
    std``): one multiply-add in float32, the same arithmetic for ranges and for mean/std. ``mean``
    and ``std`` are in the model's channel order (applied after a bgr swap), as such models document them.
    """

    layout: Layout = "nhwc"
    channel_order: ChannelOrder = "rgb"
    dtype: Any = np.uint8
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    fixed_size: tuple[int, int] | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def normalised(self) -> bool:
        """True when the model takes floats (uint8 models take pixels as they are)."""
        return self.dtype != np.uint8

    def _scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        std, mean = np.asarray(self.std, np.float64), np.asarray(self.mean, np.float64)
        return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] RGB → the model's input tensor (contiguous)."""
        x = images[..., ::-1] if self.channel_order == "bgr" else images
        if self.normalised:
            scale, offset = self._scale_offset()
            x = (x.astype(np.float32) * scale + offset).astype(self.dtype, copy=False)
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def from_output(self, y: np.ndarray) -> np.ndarray:
        """An image model's output in the input's convention → uint8 [N, H, W, 3] RGB (rounded)."""
        if self.layout == "nchw":
            y = y.transpose(0, 2, 3, 1)
        if y.dtype != np.uint8:
            _, offset = self._scale_offset()
            y = (y.astype(np.float32) - offset) * np.asarray(self.std, np.float32)
            y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
        if self.channel_order == "bgr":
            y = y[..., ::-1]
        return np.ascontiguousarray(y)

    def describe(self) -> str:
        """``float32 nchw bgr, mean [127.5 ...] std [...]`` or ``uint8 nhwc rgb``."""
        text = f"{np.dtype(self.dtype).name} {self.layout} {self.channel_order}"
        if self.normalised:
            text += f", mean {_fmt(self.mean)} std {_fmt(self.std)} (0..255 units)"
        return text


def _fmt(values: Sequence[float]) -> str:
    return f"{values[0]:g}" if len(set(values)) == 1 else "[" + ", ".join(f"{v:g}" for v in values) + "]"


def range_to_mean_std(input_range: str) -> tuple[float, float]:
    """(mean, std) in 0..255 units of a range: ``x / 255 * (hi - lo) + lo == (x - mean) / std``."""
    lo, hi = INPUT_RANGES[canonical_range(input_range)]
    return -lo * 255.0 / (hi - lo), 255.0 / (hi - lo)


def resolve(
    tensor: Any,
    record: ModelMetadata | None,
    params: PreprocessParams,
    *,
    path: str | Path,
    name: str = "",
    what: str = "image",
) -> Preprocess:
    """The input convention of ``tensor`` (an onnxruntime NodeArg: .name, .type, .shape) for a
    model with metadata ``record`` (None: foreign) and the stage's ``params``; see the module doc.
    ``what`` names the pictures in errors (``image``, ``face crops``)."""
    shape, dtype = list(tensor.shape), _DTYPES.get(tensor.type)
    if len(shape) != 4 or dtype is None:
        got = f"'{tensor.name}' {tensor.type} {shape}"
        raise ModelError(f"{path}: expected an {what} input of rank 4 (uint8 or float), got {got}")
    given = params.given()
    if record is not None:  # ours: the contract fixes everything but the size
        if given:
            raise ModelError(
                f"{path}: {', '.join(given)} given, but this model's metadata fixes them "
                "(it takes uint8 RGB NHWC); remove them from the stage"
            )
        if dtype != np.uint8 or shape[3] != 3:
            got = f"'{tensor.name}' {tensor.type} {shape}"
            raise ModelError(f"{path}: expected input '{tensor.name}' uint8 [N, H, W, 3], got {got}")
        return Preprocess(fixed_size=_fixed(shape, "nhwc"), sources={"all": "metadata"})
    sources = {}
    layout: Layout
    if params.layout is not None:
        layout, sources["layout"] = params.layout, "params"
    elif shape[1] == 3 and shape[3] != 3:
        layout, sources["layout"] = "nchw", "model"
    elif shape[3] == 3 and shape[1] != 3:
        layout, sources["layout"] = "nhwc", "model"
    else:
        raise ModelError(
            f"{path}: no streamer metadata and input shape {shape} does not show the "
            f"layout; set layout: nchw or nhwc for this stage"
        )
    channels = shape[1] if layout == "nchw" else shape[3]
    if isinstance(channels, int) and channels != 3:
        raise ModelError(f"{path}: layout {layout}: input {shape} has {channels} channels, expected 3")
    order: ChannelOrder = params.channel_order or "rgb"
    sources["channel_order"] = "params" if params.channel_order else "default"
    norm = [k for k in ("input_range", "mean", "std") if getattr(params, k) is not None]
    mean = std = np.zeros(3)
    if dtype == np.uint8:
        if norm:
            raise ModelError(
                f"{path}: {', '.join(norm)} given, but this model takes uint8 pixels "
                "(normalisation is inside it); remove them"
            )
        std = np.ones(3)
    elif params.input_range is not None:
        if params.mean is not None or params.std is not None:
            raise ModelError(f"{path}: input_range and mean/std both given; give one of them")
        try:
            m, s = range_to_mean_std(params.input_range)
        except MetadataError as e:
            raise ModelError(f"{path}: {e}") from None
        mean, std = np.full(3, m), np.full(3, s)
        sources["normalisation"] = "params"
    else:
        missing = [k for k in ("mean", "std") if getattr(params, k) is None]
        if len(missing) == 2:
            hint = f", e.g. --set {name}.mean=127.5 --set {name}.std=127.5" if name else ""
            raise ModelError(
                f"{path}: float input and no streamer metadata: set input_range (0,1 | -1,1 | 0,255) "
                f"or set mean and std in 0..255 pixel units (ArcFace-style: 127.5 and 127.5){hint}"
            )
        if missing:
            raise ModelError(f"{path}: float input and no streamer metadata: set {missing[0]} too")
        assert params.mean is not None and params.std is not None
        mean, std = _triple(params.mean, "mean"), _triple(params.std, "std")
        if np.any(std == 0):
            raise ModelError(f"{path}: std must not be 0, got {list(std)}")
        sources["normalisation"] = "params"
    return Preprocess(
        layout=layout,
        channel_order=order,
        dtype=dtype,
        mean=(float(mean[0]), float(mean[1]), float(mean[2])),
        std=(float(std[0]), float(std[1]), float(std[2])),
        fixed_size=_fixed(shape, layout),
        sources=sources,
    )


def _fixed(shape: list[Any], layout: str) -> tuple[int, int] | None:
    """(H, W) when the input takes only one spatial size, else None."""
    h, w = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    return (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None


def square_size(
    pre: Preprocess, record: ModelMetadata | None, size: int | None, *, path: str | Path, default: int
) -> int:
    """The square crop a face model takes: its fixed input size (a conflicting ``size`` is an
    error), else the ``size`` param, else the metadata's input/preferred size, else ``default``."""
    if pre.fixed_size is not None:
        h, w = pre.fixed_size
        if h != w:
            raise ModelError(f"{path}: expected a square input, got {h}x{w}")
        if size is not None and size != h:
            raise ModelError(f"{path}: size {size} given, but the model only takes {h}x{w}")
        return h
    if size is not None:
        return int(size)
    if record is not None and (record.preferred_size or record.input_size):
        return int(record.preferred_size or record.input_size or default)
    return default
