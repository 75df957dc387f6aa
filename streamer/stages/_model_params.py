"""Parameters shared by the stages that run an ONNX model (translate, verify, deepfake, predict).

``ModelParams`` adds where the model runs; ``ForeignInputParams`` adds how a *foreign* model (one
without our metadata, e.g. an ArcFace-style embedder or a third-party style network) wants its
pictures prepared, in one vocabulary for every stage: ``input_range`` *or* ``mean``/``std`` (0..255
pixel units), ``layout``, ``channel_order``. :mod:`streamer.onnx.preprocess` resolves them over
what the model itself says. ``FaceModelParams`` adds the crop (``size``, ``margin``). Our own
models carry all of this in their metadata and need none of it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from streamer.model_contract import MetadataError, canonical_range
from streamer.onnx.preprocess import PreprocessParams
from streamer.stages.base import StageParams


def listify(value: Any) -> Any:
    """`providers: cuda` means [cuda]; `mean: 127.5` means [127.5]."""
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


class ModelParams(StageParams):
    providers: Annotated[list[str] | None, BeforeValidator(listify)] = None
    """onnxruntime providers in order (tensorrt, cuda, cpu); default: the usable ones."""
    threads: int | None = Field(default=None, ge=1, le=256)
    """CPU threads for the model (default: onnxruntime's choice)."""

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str] | None) -> list[str] | None:
        from streamer.onnx.providers import normalize_providers

        normalize_providers(value)
        return value


def _range(value: Any) -> Any:
    """``-1,1`` (the old spelling) and ``-1..1`` both become ``-1..1``."""
    if isinstance(value, str):
        try:
            return canonical_range(value)
        except MetadataError:
            return value  # the Literal below names the accepted values
    return value


class ForeignInputParams(ModelParams):
    input_range: Annotated[Literal["0..1", "-1..1", "0..255"] | None, BeforeValidator(_range)] = None
    """Foreign float models: the range the model expects (0..1, -1..1, 0..255; `-1,1` works too);
    or give mean and std instead."""
    mean: Annotated[list[float] | None, BeforeValidator(listify)] = None
    """Foreign float models: mean in 0..255 units, one number or three in the model's channel order."""
    std: Annotated[list[float] | None, BeforeValidator(listify)] = None
    """Foreign float models: std in 0..255 units, one number or three (ArcFace: mean and std 127.5)."""
    layout: Literal["nhwc", "nchw"] | None = None
    """Foreign models: tensor layout (default: read from the input shape)."""
    channel_order: Literal["rgb", "bgr"] | None = None
    """Foreign models: colour order the model expects (default rgb)."""

    @field_validator("mean", "std")
    @classmethod
    def _one_or_three(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) not in (1, 3):
            raise ValueError(f"expected one number or three (one per channel), got {len(value)}")
        return value

    @model_validator(mode="after")
    def _range_or_mean_std(self) -> ForeignInputParams:
        if self.input_range is not None and (self.mean is not None or self.std is not None):
            raise ValueError("input_range and mean/std both given; give one of them")
        return self

    def preprocess(self, size: int | None = None) -> PreprocessParams:
        """These parameters for :func:`streamer.onnx.preprocess.resolve`."""
        return PreprocessParams(
            input_range=self.input_range,
            mean=self.mean,
            std=self.std,
            layout=self.layout,
            channel_order=self.channel_order,
            size=size,
        )


class FaceModelParams(ForeignInputParams):
    margin: float | None = Field(default=None, ge=0.0, le=2.0)
    """Face crop context on each side, as a fraction of the box (default: the model's, else 0.25)."""
    size: int | None = Field(default=None, ge=16, le=1024)
    """Foreign models: crop size when the model's input size is not fixed (ours: metadata)."""
    batch_frames: int = Field(default=1, ge=1, le=64)
    """Offline graphs: hold this many frames and send all their face crops to the model in one
    call (padded to batch sizes 1, 2, 4, ...), then decide each frame in order (live: 1)."""
