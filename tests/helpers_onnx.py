"""Small ONNX test models, exported with torch (tests only; the runtime never imports torch).

- ``ours``: a tiny seeded conv net wrapped as DESIGN 3.2 says: ``image`` uint8 [N, H, W, 3] RGB
  in and out, N/H/W dynamic, normalisation inside the graph, streamer metadata attached.
- ``foreign``: the same inner net exported raw: float32 in [-1, 1], NCHW (or NHWC), optionally
  BGR, no metadata; fed the same picture it must give the same result as ``ours``.
- ``multiple``: a net that only works when H and W are multiples of 4 (strided convs, upsample,
  residual add), with ``size_multiple=4`` in its metadata.

Every builder takes the output path and returns it; ``torch_reference`` runs the wrapped module
in torch for comparison with onnxruntime.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

META_OURS = {
    "streamer_format": "1",
    "family": "test-tiny",
    "task": "image-to-image",
    "size_multiple": "1",
    "preferred_size": "64",
    "input_range": "-1..1",
    "source": "tests/helpers_onnx.py",
}


class TinyNet(nn.Module):
    """float NCHW [-1, 1] → float NCHW [-1, 1]; seeded so every build is the same net."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.c1 = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
        self.c2 = nn.Conv2d(8, 3, 3, padding=1, padding_mode="reflect")
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.c2(torch.relu(self.c1(x))) + x)


class Multiple4Net(nn.Module):
    """Needs H, W multiples of 4: two stride-2 convs, x4 upsample, residual add with the input."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.down = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1), nn.ReLU(), nn.Conv2d(6, 3, 3, 2, 1))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(self.down(x), scale_factor=4.0, mode="nearest")
        return torch.tanh(x + up)


class Uint8Wrapper(nn.Module):
    """uint8 NHWC RGB → [-1, 1] NCHW → net → uint8 NHWC RGB, as our exported models are."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        y = (self.net(x) + 1.0) * 127.5
        return y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)


class ForeignWrapper(nn.Module):
    """Adapts a [-1, 1] NCHW RGB net to another float convention (layout, range, channel order)."""

    def __init__(
        self, net: nn.Module, layout: str = "nchw", rng: tuple[float, float] = (-1.0, 1.0), bgr: bool = False
    ) -> None:
        super().__init__()
        self.net, self.layout, self.rng, self.bgr = net, layout, rng, bgr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.rng
        if self.layout == "nhwc":
            x = x.permute(0, 3, 1, 2)
        if self.bgr:
            x = x.flip(1)
        x = (x - lo) / (hi - lo) * 2.0 - 1.0
        y = (self.net(x) + 1.0) / 2.0 * (hi - lo) + lo
        if self.bgr:
            y = y.flip(1)
        return y.permute(0, 2, 3, 1) if self.layout == "nhwc" else y


class EmbeddingWrapper(nn.Module):
    """uint8 NHWC image → float32 [N, 8] 'embedding' (a mismatched model for image stages)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.float().mean(dim=(1, 2))
        return torch.cat([x, x, x[:, :2]], dim=1)


def _export(
    module: nn.Module,
    path: Path,
    example: torch.Tensor,
    *,
    in_name: str,
    out_name: str,
    dynamic: dict[int, str] | None,
    meta: dict[str, str] | None,
) -> Path:
    path = Path(path)
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[in_name],
            output_names=[out_name],
            dynamic_axes={in_name: dynamic, out_name: dynamic} if dynamic else None,
            opset_version=17,
            dynamo=False,
        )
    model = onnx.load(str(path))
    if meta:
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ours(path: Path, *, seed: int = 0, meta: dict[str, str] | None = None) -> Path:
    """Our convention: ``image`` uint8 NHWC in, ``image_out`` uint8 NHWC out, with metadata."""
    return _export(
        Uint8Wrapper(TinyNet(seed)),
        path,
        torch.zeros(1, 16, 16, 3, dtype=torch.uint8),
        in_name="image",
        out_name="image_out",
        dynamic={0: "n", 1: "h", 2: "w"},
        meta={**META_OURS, **(meta or {})},
    )


def multiple(path: Path, *, seed: int = 1) -> Path:
    """Our convention, but H and W must be multiples of 4 (metadata size_multiple=4)."""
    return _export(
        Uint8Wrapper(Multiple4Net(seed)),
        path,
        torch.zeros(1, 16, 16, 3, dtype=torch.uint8),
        in_name="image",
        out_name="image_out",
        dynamic={0: "n", 1: "h", 2: "w"},
        meta={**META_OURS, "size_multiple": "4", "preferred_size": "32", "family": "test-mult4"},
    )


def foreign(
    path: Path,
    *,
    seed: int = 0,
    layout: str = "nchw",
    rng: tuple[float, float] = (-1.0, 1.0),
    bgr: bool = False,
    fixed: int | None = None,
) -> Path:
    """The ``ours`` net (same ``seed``) as a third-party model: float input, no metadata.
    ``fixed`` exports a static square size instead of dynamic N/H/W."""
    s = fixed or 16
    example = torch.zeros(1, 3, s, s) if layout == "nchw" else torch.zeros(1, s, s, 3)
    dyn = None if fixed else ({0: "n", 2: "h", 3: "w"} if layout == "nchw" else {0: "n", 1: "h", 2: "w"})
    return _export(
        ForeignWrapper(TinyNet(seed), layout, rng, bgr),
        path,
        example,
        in_name="input",
        out_name="output",
        dynamic=dyn,
        meta=None,
    )


def embedding(path: Path) -> Path:
    """A model with our ``image`` input and metadata, but a float embedding output."""
    return _export(
        EmbeddingWrapper(),
        path,
        torch.zeros(1, 16, 16, 3, dtype=torch.uint8),
        in_name="image",
        out_name="embedding",
        dynamic={0: "n", 1: "h", 2: "w"},
        meta={**META_OURS, "task": "embedding", "family": "test-embed"},
    )


def float_input_with_meta(path: Path) -> Path:
    """Claims our metadata but takes float NCHW input: a mismatch the runtime must reject."""
    return _export(
        TinyNet(0),
        path,
        torch.zeros(1, 3, 16, 16),
        in_name="image",
        out_name="image_out",
        dynamic={0: "n", 2: "h", 3: "w"},
        meta=META_OURS,
    )


def torch_reference(module_kind: str, images: np.ndarray, *, seed: int | None = None) -> np.ndarray:
    """Run the wrapped torch module (``"ours"`` or ``"multiple"``) on uint8 NHWC ``images``."""
    if module_kind == "ours":
        module = Uint8Wrapper(TinyNet(0 if seed is None else seed))
    else:
        module = Uint8Wrapper(Multiple4Net(1 if seed is None else seed))
    with torch.no_grad():
        return module.eval()(torch.from_numpy(np.ascontiguousarray(images))).numpy()
