"""The Siamese face embedder: a small CNN, 112 x 112 RGB face crop -> 128-d unit-length embedding.

Trade-off: the runtime budget is a few milliseconds per crop on two CPU threads, so the net is a
plain small ResNet (~0.5 M parameters, ~30 M multiply-adds): a stride-2 stem, three stages that
halve the resolution (28, 14, 7), the last two with one residual block each, then a global depthwise 7 x 7
convolution (MobileFaceNet's "GDC": keeps where on the face a feature is, unlike average pooling)
and a linear layer to 128 numbers, normalised to unit length. Two faces are the same person when
the cosine distance ``1 - a . b`` of their embeddings is below the threshold stored in the model.

This family is trained here (``python -m export siamese``), not converted from a published
checkpoint, so it is not in the checkpoint-family registry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 112
EMBEDDING_DIM = 128


def _conv_bn(cin: int, cout: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """Two 3x3 convolutions with an identity shortcut."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(ch, ch), _conv_bn(ch, ch, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class EmbedNet(nn.Module):
    """Float RGB crop in -1..1, ``[N, 3, 112, 112]`` -> L2-normalised ``[N, 128]``."""

    def __init__(
        self, widths: tuple[int, int, int, int] = (16, 32, 64, 128), dim: int = EMBEDDING_DIM
    ) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = _conv_bn(3, w0, stride=2)  # 56
        self.stages = nn.Sequential(
            _conv_bn(w0, w1, stride=2),  # 28 (no residual block here: the costliest resolution)
            _conv_bn(w1, w2, stride=2),
            Residual(w2),  # 14
            _conv_bn(w2, w3, stride=2),
            Residual(w3),  # 7
        )
        side = INPUT_SIZE // 16
        self.gdc = nn.Sequential(nn.Conv2d(w3, w3, side, groups=w3, bias=False), nn.BatchNorm2d(w3))
        self.head = nn.Linear(w3, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gdc(self.stages(self.stem(x))).flatten(1)
        return F.normalize(self.bn(self.head(x)), dim=1)


class EmbedWrapper(nn.Module):
    """The exported graph: ``image`` uint8 ``[N, 112, 112, 3]`` RGB -> ``embedding`` float32 ``[N, 128]``.

    Layout change and scaling to -1..1 live inside, as DESIGN 3.2 asks of every model.
    """

    def __init__(self, net: EmbedNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return self.net(x)


def to_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC batch -> the float NCHW -1..1 tensor ``EmbedNet`` takes (what the wrapper does)."""
    return batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0
