"""AnimeGANv2 ``Generator`` of the PyTorch port (bryandlee/animegan2-pytorch ``model.py``).

Loads ``face_paint_512_v1/v2.pt``, ``celeba_distill.pt`` and ``paprika.pt``: blocks a..e of
``ConvNormLReLU`` units (pad, bias-free conv, GroupNorm(1, C), LeakyReLU 0.2), inverted
residual blocks in block_c, bilinear (align_corners=True) resizes after block_c (to block_a's
output size) and block_d (to the input size), and a 1x1 conv + tanh. RGB in [-1, 1]. The
published files are plain state dicts with no legacy keys, so nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from export.registry import Family, register_family


class ConvNormLReLU(nn.Sequential):
    """[pad, conv (padding 0), GroupNorm(1, out, affine), LeakyReLU(0.2)]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | tuple[int, int, int, int] = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            nn.GroupNorm(num_groups=1, num_channels=out_ch, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    """1x1 expand, depthwise 3x3 (with bias), 1x1 project, GroupNorm; residual iff in == out."""

    def __init__(self, in_ch: int, out_ch: int, expansion_ratio: float = 2) -> None:
        super().__init__()
        self.use_res_connect = in_ch == out_ch
        bottleneck = int(round(in_ch * expansion_ratio))
        layers: list[nn.Module] = []
        if expansion_ratio != 1:
            layers.append(ConvNormLReLU(in_ch, bottleneck, kernel_size=1, padding=0))
        layers.append(ConvNormLReLU(bottleneck, bottleneck, groups=bottleneck, bias=True))
        layers.append(nn.Conv2d(bottleneck, out_ch, kernel_size=1, padding=0, bias=False))
        layers.append(nn.GroupNorm(num_groups=1, num_channels=out_ch, affine=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_res_connect else out


class Generator(nn.Module):
    """The AnimeGANv2 generator; output has the input's size for any H, W."""

    def __init__(self) -> None:
        super().__init__()
        self.block_a = nn.Sequential(
            ConvNormLReLU(3, 32, kernel_size=7, padding=3),
            ConvNormLReLU(32, 64, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(64, 64),
        )
        self.block_b = nn.Sequential(
            ConvNormLReLU(64, 128, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(128, 128),
        )
        self.block_c = nn.Sequential(
            ConvNormLReLU(128, 128),
            InvertedResBlock(128, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            ConvNormLReLU(256, 128),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(
            ConvNormLReLU(128, 64),
            ConvNormLReLU(64, 64),
            ConvNormLReLU(64, 32, kernel_size=7, padding=3),
        )
        self.out_layer = nn.Sequential(
            nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0, bias=False), nn.Tanh()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block_a(x)
        half_size = out.shape[-2:]
        out = self.block_b(out)
        out = self.block_c(out)
        out = F.interpolate(out, half_size, mode="bilinear", align_corners=True)
        out = self.block_d(out)
        out = F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=True)
        out = self.block_e(out)
        return self.out_layer(out)


@register_family(
    "animegan2",
    summary="AnimeGANv2 PyTorch-port Generator (face_paint_512_v2.pt, paprika.pt), RGB -1..1",
    input_range="-1..1",
    preferred_size=512,
    # Two stride-2 units with pad (0,1,0,1) give floor(H/2), floor(H/4); the net resizes back to the
    # input size itself, so any size runs, but only multiples of 4 make both resizes an exact x2.
    size_multiple=4,
    checkpoints=("face_paint_512_v2.pt", "face_paint_512_v1.pt", "celeba_distill.pt", "paprika.pt"),
)
class AnimeGAN2(Family):
    """AnimeGANv2 generator; fixed hyper-parameters, no legacy keys."""

    def matches(self, state_dict: Mapping[str, Any]) -> bool:
        return "block_a.0.1.weight" in state_dict and "out_layer.0.weight" in state_dict

    def build(self, state_dict: Mapping[str, Any]) -> nn.Module:
        return Generator()
