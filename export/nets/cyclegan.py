"""CycleGAN / pix2pix ``ResnetGenerator`` (junyanz/pytorch-CycleGAN-and-pix2pix), rebuilt key for key.

Loads ``latest_net_G.pth`` / ``latest_net_G_A.pth`` as saved by the reference code: one
``nn.Sequential`` named ``model``, instance norm without affine parameters, a bias on every
conv. ``ngf``, the number of residual blocks, the in/out channels and whether dropout was used
are read from tensor shapes. Checkpoints of older releases carry ``running_mean``,
``running_var`` and ``num_batches_tracked`` at the norm layers; the reference code deletes them
(``__patch_instance_norm_state_dict``) and so do we, but only at InstanceNorm positions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from export.errors import ExportError
from export.registry import Family, register_family

_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.")
_LEGACY = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


def _norm(ch: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """``x + conv_block(x)``; conv_block = pad, conv, norm, ReLU, [dropout], pad, conv, norm."""

    def __init__(self, dim: int, use_dropout: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The reference ``ResnetGenerator`` with ``norm='instance'``; RGB in and out in [-1, 1]."""

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # downsampling
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        model += [ResnetBlock(ngf * 4, use_dropout) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@register_family(
    "cyclegan",
    summary="CycleGAN/pix2pix ResnetGenerator (latest_net_G.pth, latest_net_G_A.pth), RGB -1..1",
    input_range="-1..1",
    preferred_size=256,
    size_multiple=4,  # two stride-2 convs, undone by two ConvTranspose2d: exact only at multiples of 4
    checkpoints=("latest_net_G.pth", "latest_net_G_A.pth", "latest_net_G_B.pth"),
)
class CycleGAN(Family):
    """CycleGAN ResnetGenerator: ngf and n_blocks (9 published, 6 common) come from the checkpoint."""

    def matches(self, state_dict: Mapping[str, Any]) -> bool:
        return "model.1.weight" in state_dict and any(_BLOCK_KEY.match(k) for k in state_dict)

    def is_legacy_key(self, key: str, module: nn.Module) -> bool:
        if not _LEGACY.search(key):
            return False
        owner = key.rsplit(".", 1)[0]
        try:
            return isinstance(module.get_submodule(owner), nn.InstanceNorm2d)
        except AttributeError:
            return False

    def build(self, state_dict: Mapping[str, Any]) -> nn.Module:
        if "model.model.0.weight" in state_dict:
            raise ExportError(
                "this is a pix2pix U-Net generator (unet_256), not a ResnetGenerator: the cyclegan family "
                "supports resnet_9blocks/resnet_6blocks checkpoints only"
            )
        first = state_dict.get("model.1.weight")
        if first is None or first.dim() != 4:
            raise ExportError("missing key 'model.1.weight' (the first 7x7 conv of the ResnetGenerator)")
        ngf, input_nc = int(first.shape[0]), int(first.shape[1])
        blocks = sorted({int(m.group(1)) for k in state_dict if (m := _BLOCK_KEY.match(k))})
        n_blocks = len(blocks)
        last = state_dict.get(f"model.{10 + n_blocks + 6 + 1}.weight")
        output_nc = int(last.shape[0]) if last is not None and last.dim() == 4 else 3
        # with dropout the second conv of a block moves from index 5 to 6 (index 6 is otherwise a norm)
        second = state_dict.get(f"model.{blocks[0]}.conv_block.6.weight") if blocks else None
        use_dropout = second is not None and second.dim() == 4
        return ResnetGenerator(input_nc, output_nc, ngf, n_blocks, use_dropout)
