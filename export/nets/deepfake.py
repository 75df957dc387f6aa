"""The deepfake detector: a small CNN, 112 x 112 RGB face crop -> probability the face was manipulated.

Trade-off: it runs per face per frame next to face_detect and verify, so the budget is a couple
of milliseconds per crop on two CPU threads (~0.35 M parameters, ~69 M multiply-adds). Manipulation
traces are fine-grained (blend boundaries, resolution and compression mismatches, generator
textures), so the first convolution is a 4 x 4 stride-2 one that sees every full-resolution
pixel; four stride-2 stages in all (56, 28, 14, 7), each followed by a second 3 x 3 convolution
(two at 28 and 14: a field of view wide enough to see a face's seam and what lies on both sides
of it), then global average and max pooling (a trace anywhere on the face counts) and one
linear layer to a logit. The net with one convolution per stage (0.15 M) separated held-out
swaps a little less well on the same data, before the package photos were added (AUC 0.74 and
0.72 on two seeds, against 0.80, 0.77 and 0.71 on three; the seed spread is large, see the model
card's limits).

``DeepfakeWrapper`` is what gets exported: input ``image`` uint8 [N, 112, 112, 3] RGB,
normalisation inside, output ``fake_prob`` float32 [N] after a sigmoid. Trained here
(``python -m export deepfake``), not converted from a published checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SIZE = 112
MEAN = (0.5, 0.45, 0.4)
STD = (0.25, 0.25, 0.25)


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class DeepfakeNet(nn.Module):
    """float NCHW (normalised) -> one logit per face."""

    def __init__(self, widths: tuple[int, ...] = (24, 32, 64, 128)) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.features = nn.Sequential(
            # 4x4 stride 2: every full-resolution pixel reaches the first features (no aliasing gap)
            nn.Conv2d(3, w0, 4, 2, 1, bias=False),  # 56
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
            _conv_bn(w0, w0),
            _conv_bn(w0, w1, 2),  # 28
            _conv_bn(w1, w1),
            _conv_bn(w1, w1),
            _conv_bn(w1, w2, 2),  # 14
            _conv_bn(w2, w2),
            _conv_bn(w2, w2),
            _conv_bn(w2, w3, 2),  # 7
            _conv_bn(w3, w3),
        )
        self.head = nn.Linear(2 * w3, 1)
        self.drop = nn.Dropout(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return self.head(self.drop(pooled))[:, 0]


def to_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> the net's normalised float NCHW."""
    x = batch.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class DeepfakeWrapper(nn.Module):
    """The exported graph: uint8 [N, S, S, 3] RGB -> ``fake_prob`` float32 [N] (sigmoid of the logit
    minus ``shift``, so the decision threshold chosen on validation data sits at 0.5)."""

    def __init__(self, net: DeepfakeNet, shift: float = 0.0) -> None:
        super().__init__()
        self.net = net
        self.shift = float(shift)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(to_input(image)) - self.shift)
