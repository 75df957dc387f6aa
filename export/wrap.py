"""The uint8-NHWC-in, uint8-NHWC-out wrapper that every image-to-image export runs (DESIGN 3.2).

Normalisation, layout change, clamping and rounding live inside the graph so runtime stages
never carry per-model constants, and on a GPU that arithmetic runs there too.
"""

from __future__ import annotations

import torch
from torch import nn

_SCALE = {"-1..1": (127.5, -1.0), "0..1": (255.0, 0.0), "0..255": (1.0, 0.0)}


class ImageToImage(nn.Module):
    """``uint8 [N, H, W, 3]`` RGB -> net in its own range and layout -> ``uint8 [N, H, W, 3]`` RGB.

    ``dtype`` is the compute type of the net (float32, or float16 for the ``--fp16`` variant);
    the final clamp and round run in float32 either way so both variants round alike.
    """

    def __init__(self, net: nn.Module, input_range: str, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if input_range not in _SCALE:
            raise ValueError(f"input_range must be one of {sorted(_SCALE)}, got {input_range!r}")
        self.net = net
        self.scale, self.offset = _SCALE[input_range]
        self.dtype = dtype

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).to(self.dtype)
        if self.scale != 1.0:
            x = x / self.scale
        if self.offset:
            x = x + self.offset
        y = self.net(x).float()
        if self.offset:
            y = y - self.offset
        if self.scale != 1.0:
            y = y * self.scale
        y = torch.round(torch.clamp(y, 0.0, 255.0))
        return y.to(torch.uint8).permute(0, 2, 3, 1)
