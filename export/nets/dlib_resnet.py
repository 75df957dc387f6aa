"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) as a PyTorch module.

The network, as ``dnn_face_recognition_ex.cpp`` declares it (29 conv layers, 5.6 M parameters)::

    block<N,stride>    = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, x>>>>>
    ares<N>            = relu<add_prev1<block<N,1, tag1<x>>>>                       # x + block(x)
    ares_down<N>       = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2, tag1<x>>>>>>>
    anet = loss_metric<fc_no_bias<128, avg_pool_everything<
             ares_down<256> ares<256> ares<256> ares_down<256> ares<128> ares<128> ares_down<128>
             ares<64> ares<64> ares<64> ares_down<64> ares<32> ares<32> ares<32>
             max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>

Details that matter for parity with dlib:

- input: ``(pixel - mean) / 256`` per RGB channel, mean (122.782, 117.001, 104.298) read from the file;
- dlib's strided layers have no padding (``con<N,3,3,2,2>``, ``max_pool<3,3,2,2>``, ``avg_pool<2,2,2,2>``),
  stride-1 convolutions pad by 1;
- ``add_prev`` adds tensors of different sizes: the result has the larger channels, rows and
  columns, the smaller operand zero-filled (a down block's 64 channels get the 32 skipped ones
  added to the first 32; at 8x8 -> 3x3 conv vs 4x4 pool, the conv output fills the top-left);
- ``affine`` is the frozen batch norm: ``gamma * x + beta`` per channel.

Weights come from :func:`export.dlib_format.read_network` with :data:`SPEC`; no torch checkpoint.

Example::

    net = DlibResNet.from_file(Path("dlib_face_recognition_resnet_model_v1.dat")).eval()
    emb = EmbedWrapper(net)(torch.from_numpy(chips))  # uint8 [N,150,150,3] -> float32 [N,128]
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from export.dlib_format import DlibFormatError, Layer, read_network

CHIP_SIZE = 150
EMBEDDING_DIM = 128

_ARES = ["relu", "add_prev", "affine", "con", "relu", "affine", "con", "tag"]
_ARES_DOWN = ["relu", "add_prev", "avg_pool", "skip", "tag", "affine", "con", "relu", "affine", "con", "tag"]
_BLOCKS = ["d", "r", "r", "d", "r", "r", "d", "r", "r", "r", "d", "r", "r", "r"]  # outermost first

#: The layers of dlib_face_recognition_resnet_model_v1 from the loss inwards (see dlib_format).
SPEC: list[str] = (
    ["fc", "avg_pool"]
    + [kind for b in _BLOCKS for kind in (_ARES_DOWN if b == "d" else _ARES)]
    + ["max_pool", "relu", "affine", "con", "input_rgb_image_sized"]
)


class Affine(nn.Module):
    """dlib's affine layer: ``gamma * x + beta`` per channel (batch norm frozen at training's end)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


def _conv(cin: int, cout: int, k: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if stride == 1 else 0)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum of two NCHW tensors, each zero-padded (at the end of channels,
    rows and columns) to the larger of the two sizes."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: torch.Tensor) -> torch.Tensor:
        pad = (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1])
        return F.pad(t, pad) if any(pad) else t

    return grow(a) + grow(b)


class Block(nn.Module):
    """``ares`` / ``ares_down``: relu(shortcut(x) + affine(conv(relu(affine(conv(x))))))."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = _conv(cin, cout, 3, 2 if down else 1)
        self.aff1 = Affine(cout)
        self.conv2 = _conv(cout, cout, 3, 1)
        self.aff2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.aff2(self.conv2(F.relu(self.aff1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_prev(y, shortcut))


class DlibResNet(nn.Module):
    """The descriptor network on normalised NCHW float input (see the module doc)."""

    def __init__(self, blocks: list[tuple[int, int, bool]]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1))
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_aff = Affine(32)
        self.blocks = nn.ModuleList(Block(cin, cout, down) for cin, cout, down in blocks)
        self.fc = nn.Linear(blocks[-1][1], EMBEDDING_DIM, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float RGB NCHW in 0..255 at 150x150 -> [N, 128] (dlib's unnormalised descriptor)."""
        x = (x - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.stem_aff(self.stem_conv(x))), 3, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))

    @classmethod
    def from_file(cls, path: Path) -> DlibResNet:
        """The network with the weights of dlib's ``.dat`` file (read by our own reader)."""
        return cls.from_layers(read_network(path, SPEC), str(path))

    @classmethod
    def from_layers(cls, layers: list[Layer], name: str = "dlib network") -> DlibResNet:
        """Build from :func:`read_network`'s layers (input first), checking every shape."""
        it = iter(layers)

        def take(kind: str) -> Layer:
            layer = next(it, None)
            if layer is None or layer.kind != kind:
                got = layer.kind if layer else "the end"
                raise DlibFormatError(f"{name}: expected a {kind} layer, got {got}")
            return layer

        inp = take("input_rgb_image_sized")
        if inp.values["size"] != (CHIP_SIZE, CHIP_SIZE):
            raise DlibFormatError(f"{name}: expected {CHIP_SIZE}x{CHIP_SIZE} input, got {inp.values['size']}")
        stem = [take("con"), take("affine")]
        take("relu"), take("max_pool")
        plan: list[tuple[int, int, bool]] = []
        weights: list[list[Layer]] = []
        cin = 32
        for kind in reversed(_BLOCKS):  # input side first
            c1, a1 = take("con"), take("affine")
            take("relu")
            c2, a2 = take("con"), take("affine")
            if kind == "d":
                take("avg_pool")
            take("add_prev"), take("relu")
            cout = int(c1.tensors["weight"].shape[0])
            plan.append((cin, cout, kind == "d"))
            weights.append([c1, a1, c2, a2])
            cin = cout
        take("avg_pool")
        fc = take("fc")
        net = cls(plan)
        with torch.no_grad():
            net.mean.copy_(torch.tensor(inp.values["mean"], dtype=torch.float32).view(1, 3, 1, 1))
            _load_conv(net.stem_conv, stem[0], name)
            _load_affine(net.stem_aff, stem[1], name)
            for block, (c1, a1, c2, a2) in zip(net.blocks, weights, strict=True):
                _load_conv(block.conv1, c1, name)
                _load_affine(block.aff1, a1, name)
                _load_conv(block.conv2, c2, name)
                _load_affine(block.aff2, a2, name)
            _copy(net.fc.weight, fc.tensors["weight"], name, "fc")
        return net


def _copy(dst: torch.Tensor, src: object, name: str, what: str) -> None:
    value = torch.as_tensor(src, dtype=torch.float32)
    if tuple(value.shape) != tuple(dst.shape):
        if value.numel() != dst.numel():
            raise DlibFormatError(f"{name}: {what} holds {tuple(value.shape)}, expected {tuple(dst.shape)}")
        value = value.reshape(dst.shape)
    dst.copy_(value)


def _load_conv(conv: nn.Conv2d, layer: Layer, name: str) -> None:
    _copy(conv.weight, layer.tensors["weight"], name, "con weights")
    assert conv.bias is not None
    _copy(conv.bias, layer.tensors["bias"], name, "con biases")


def _load_affine(aff: Affine, layer: Layer, name: str) -> None:
    _copy(aff.gamma, layer.tensors["gamma"], name, "affine gamma")
    _copy(aff.beta, layer.tensors["beta"], name, "affine beta")


class EmbedWrapper(nn.Module):
    """DESIGN 3.2: ``image`` uint8 [N, 150, 150, 3] RGB (dlib's aligned chips) -> float32 [N, 128]."""

    def __init__(self, net: DlibResNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image.permute(0, 3, 1, 2).float())
