"""Random-weight checkpoints saved in each original project's layout, legacy keys included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from export.nets.animegan2 import Generator
from export.nets.cyclegan import ResnetGenerator
from export.nets.fast_style import TransformerNet

REPO = Path(__file__).resolve().parents[3]


def cyclegan_module(ngf: int = 8, n_blocks: int = 2) -> torch.nn.Module:
    torch.manual_seed(1)
    return ResnetGenerator(3, 3, ngf, n_blocks).eval()


def fast_style_module() -> torch.nn.Module:
    torch.manual_seed(2)
    net = TransformerNet().eval()
    with torch.no_grad():  # a random net's output hugs 0; spread it over 0..255 so rounding is exercised
        net.deconv3.conv2d.weight.mul_(300.0)
        net.deconv3.conv2d.bias.fill_(128.0)
    return net


def animegan2_module() -> torch.nn.Module:
    torch.manual_seed(3)
    net = Generator().eval()
    with torch.no_grad():
        net.out_layer[0].weight.mul_(5.0)
    return net


def cyclegan_sd(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """As saved by releases before PyTorch 0.4: running stats at every InstanceNorm position."""
    sd = dict(net.state_dict())
    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.InstanceNorm2d):
            sd[f"{name}.running_mean"] = torch.zeros(mod.num_features)
            sd[f"{name}.running_var"] = torch.ones(mod.num_features)
            sd[f"{name}.num_batches_tracked"] = torch.tensor(0)
    return sd


def fast_style_sd(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """As published (mosaic.pth etc.): deprecated inN.running_mean/var, also inside res blocks."""
    sd = dict(net.state_dict())
    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.InstanceNorm2d):
            sd[f"{name}.running_mean"] = torch.zeros(mod.num_features)
            sd[f"{name}.running_var"] = torch.ones(mod.num_features)
    return sd


FAMILIES: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[torch.nn.Module], dict], str]] = {
    "cyclegan": (cyclegan_module, cyclegan_sd, "-1..1"),
    "fast-style": (fast_style_module, fast_style_sd, "0..255"),
    "animegan2": (animegan2_module, lambda n: dict(n.state_dict()), "-1..1"),
}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, torch.nn.Module]]:
    """family -> (checkpoint path in the original layout, the module it was saved from)."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for fam, (make, to_sd, _) in FAMILIES.items():
        net = make()
        path = root / f"{fam}.pth"
        torch.save(to_sd(net), path)
        out[fam] = (path, net)
    return out


def real_frames(h: int, w: int, n: int = 2) -> np.ndarray:
    """Real photos fitted to h x w (independent of export's own frame helpers)."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    return np.stack([cv2.resize(photos[i % 3], (w, h), interpolation=cv2.INTER_AREA) for i in range(n)])


def reference(net: torch.nn.Module, frames: np.ndarray, input_range: str) -> np.ndarray:
    """The PyTorch module's output in uint8, with the normalisation written out independently."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        if input_range == "-1..1":
            y = (net(x / 127.5 - 1.0) + 1.0) * 127.5
        else:
            y = net(x)
    return y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
