"""``TransformerNet`` of the PyTorch examples' fast_neural_style (mosaic, candy, udnie, rain_princess).

Layout fixed by the published ``*.pth`` files: conv1..conv3 (``ConvLayer`` = reflection pad
k//2 + ``conv2d``), in1..in5 (affine InstanceNorm2d), res1..res5, deconv1/deconv2 (nearest x2
upsample, reflection pad, ``conv2d``) and deconv3 (9x9, no activation). RGB 0..255 in and out.
The published files carry deprecated ``inN.running_mean/running_var`` keys that the example's
``stylize()`` deletes with the regex ``in\\d+\\.running_(mean|var)$``; we drop exactly those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from export.registry import Family, register_family


class ConvLayer(nn.Module):
    """Reflection pad of k//2, then a strided conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_ch, out_ch, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """``x + in2(conv2(relu(in1(conv1(x)))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(self.relu(self.in1(self.conv1(x)))))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsample, reflection pad, conv (avoids transposed-conv checkerboards)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int, stride: int, upsample: int | None = None
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_ch, out_ch, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """The fast_neural_style image transformation network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


@register_family(
    "fast-style",
    summary="fast_neural_style TransformerNet (mosaic/candy/udnie/rain_princess.pth), RGB 0..255",
    input_range="0..255",
    preferred_size=256,
    # two stride-2 convs (ceil) then two nearest x2 upsamples: output size = input size only at multiples of 4
    size_multiple=4,
    checkpoints=("mosaic.pth", "candy.pth", "udnie.pth", "rain_princess.pth"),
)
class FastStyle(Family):
    """fast_neural_style TransformerNet; fixed hyper-parameters."""

    legacy_key_pattern = re.compile(r"in\d+\.running_(mean|var)$")

    def matches(self, state_dict: Mapping[str, Any]) -> bool:
        return "conv1.conv2d.weight" in state_dict and "res1.conv1.conv2d.weight" in state_dict

    def build(self, state_dict: Mapping[str, Any]) -> nn.Module:
        return TransformerNet()
