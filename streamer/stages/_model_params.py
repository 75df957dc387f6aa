"""Parameters shared by the stages that run an ONNX model (translate, verify, deepfake, predict).

``ModelParams`` adds where the model runs; ``FaceModelParams`` adds how a *foreign* face model
(one without our metadata, e.g. an ArcFace-style embedder) wants its crops prepared. Our own
models carry all of this in their metadata and need none of it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

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
        from streamer.onnx_model import normalize_providers

        normalize_providers(value)
        return value


class FaceModelParams(ModelParams):
    margin: float | None = Field(default=None, ge=0.0, le=2.0)
    """Face crop context on each side, as a fraction of the box (default: the model's, else 0.25)."""
    size: int | None = Field(default=None, ge=16, le=1024)
    """Foreign models: crop size when the model's input size is not fixed (ours: metadata)."""
    mean: Annotated[list[float] | None, BeforeValidator(listify)] = None
    """Foreign float models: per-channel mean in 0..255 units, one number or three (ArcFace: 127.5)."""
    std: Annotated[list[float] | None, BeforeValidator(listify)] = None
    """Foreign float models: per-channel std in 0..255 units, one number or three (ArcFace: 127.5)."""
    channel_order: Literal["rgb", "bgr"] | None = None
    """Foreign float models: colour order the model expects (default rgb)."""

    @field_validator("mean", "std")
    @classmethod
    def _one_or_three(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) not in (1, 3):
            raise ValueError(f"expected one number or three (R, G, B), got {len(value)}")
        return value
