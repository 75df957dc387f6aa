"""Loading original-layout checkpoints: hyper-parameter inference, legacy keys, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from export.checkpoint import load_module
from export.errors import ExportError
from export.exporter import odd_size
from export.nets.animegan2 import Generator
from export.nets.cyclegan import ResnetGenerator
from export.nets.fast_style import TransformerNet
from export.registry import Family, get_family, register_family
from export.wrap import ImageToImage
from tests.unit.export.conftest import cyclegan_sd, fast_style_sd


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_the_published_models() -> None:
    # The reference code prints "Total number of parameters : 11.378 M" for resnet_9blocks G.
    assert round(n_params(ResnetGenerator()) / 1e6, 3) == 11.378
    assert round(n_params(ResnetGenerator(n_blocks=6)) / 1e6, 3) == 7.838
    assert n_params(TransformerNet()) == 1_679_235  # fast_neural_style mosaic.pth etc.
    assert round(n_params(Generator()) / 1e6, 2) == 2.14  # face_paint_512_v2.pt is ~8.6 MB of fp32


def test_key_names_follow_the_original_projects() -> None:
    cg = ResnetGenerator(n_blocks=9).state_dict()
    assert {
        "model.1.weight",
        "model.1.bias",
        "model.10.conv_block.1.weight",
        "model.10.conv_block.5.bias",
    } <= set(cg)
    assert {"model.19.weight", "model.22.weight", "model.26.weight"} <= set(
        cg
    )  # 2 ConvTranspose2d + last conv
    assert tuple(cg["model.19.weight"].shape) == (256, 128, 3, 3)
    fs = TransformerNet().state_dict()
    assert {
        "conv1.conv2d.weight",
        "in1.weight",
        "res5.in2.bias",
        "deconv1.conv2d.weight",
        "deconv3.conv2d.bias",
    } <= set(fs)
    ag = Generator().state_dict()
    assert {
        "block_a.0.1.weight",
        "block_c.1.layers.0.1.weight",
        "block_c.1.layers.1.1.bias",
        "out_layer.0.weight",
    } <= set(ag)
    assert "block_c.1.layers.2.bias" not in ag and tuple(ag["block_c.1.layers.1.1.weight"].shape) == (
        256,
        1,
        3,
        3,
    )


@pytest.mark.parametrize(("ngf", "blocks", "dropout"), [(8, 2, False), (16, 6, False), (8, 3, True)])
def test_cyclegan_hyperparameters_are_inferred(tmp_path: Path, ngf: int, blocks: int, dropout: bool) -> None:
    net = ResnetGenerator(3, 3, ngf, blocks, use_dropout=dropout)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(cyclegan_sd(net), path)
    module, info = load_module(get_family("cyclegan"), path)
    assert n_params(module) == n_params(net)
    assert len(info["dropped"]) == 3 * (5 + 2 * blocks)  # 3 legacy keys at each of the 5 + 2n norms
    for k, v in net.state_dict().items():
        assert torch.equal(module.state_dict()[k], v)


def test_running_stats_are_dropped_only_at_instance_norms(tmp_path: Path) -> None:
    sd = dict(ResnetGenerator(3, 3, 8, 2).state_dict())
    sd["model.1.running_mean"] = torch.zeros(8)  # position 1 is a conv: not a documented legacy key
    path = tmp_path / "g.pth"
    torch.save(sd, path)
    with pytest.raises(ExportError, match=r"unexpected 1 key\(s\) 'model.1.running_mean'"):
        load_module(get_family("cyclegan"), path)


def test_fast_style_drops_exactly_the_documented_keys(tmp_path: Path) -> None:
    sd = fast_style_sd(TransformerNet())
    path = tmp_path / "mosaic.pth"
    torch.save(sd, path)
    _, info = load_module(get_family("fast-style"), path)
    assert len(info["dropped"]) == 2 * 15 and "res3.in2.running_var" in info["dropped"]
    sd["res1.in1.num_batches_tracked"] = torch.tensor(0)
    torch.save(sd, path)
    with pytest.raises(ExportError, match="unexpected 1 key"):
        load_module(get_family("fast-style"), path)


def test_nested_and_pickled_and_unet_checkpoints_explain_themselves(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    torch.save({"state_dict": Generator().state_dict()}, path)
    with pytest.raises(ExportError, match="nested under 'state_dict'"):
        load_module(get_family("animegan2"), path)
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ExportError, match="weights_only=True"):
        load_module(get_family("animegan2"), path)
    torch.save(
        {"model.model.0.weight": torch.zeros(64, 3, 4, 4), "model.model.0.bias": torch.zeros(64)}, path
    )
    with pytest.raises(ExportError, match="U-Net"):
        load_module(get_family("cyclegan"), path)


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    sd = dict(TransformerNet().state_dict())
    sd["in1.weight"] = torch.ones(16)
    path = tmp_path / "candy.pth"
    torch.save(sd, path)
    with pytest.raises(ExportError, match=r"shape mismatch 'in1.weight' \(16,\)"):
        load_module(get_family("fast-style"), path)


def test_duplicate_family_name_is_an_error() -> None:
    get_family("cyclegan")
    with pytest.raises(ValueError, match="registered twice"):

        @register_family("cyclegan", summary="x", input_range="-1..1", preferred_size=256, size_multiple=4)
        class Again(Family):
            pass


@pytest.mark.parametrize(("pref", "mult"), [(256, 4), (512, 4), (64, 4), (96, 8)])
def test_odd_parity_size_is_an_odd_multiple(pref: int, mult: int) -> None:
    h, w = odd_size(pref, mult)
    assert h % mult == 0 and w % mult == 0 and (h // mult) % 2 == 1 and (w // mult) % 2 == 1 and h != w


def test_wrapper_clamps_and_rounds() -> None:
    class Affine(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2.0 - 100.4

    img = torch.tensor([[[[0, 60, 200]]]], dtype=torch.uint8)
    out = ImageToImage(Affine(), "0..255")(img)
    assert out.dtype == torch.uint8 and out.tolist() == [[[[0, 20, 255]]]]
    # -1..1: identity net gives the input back exactly
    img = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    assert torch.equal(ImageToImage(torch.nn.Identity(), "-1..1")(img), img)


def test_failed_parity_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import export.exporter as exporter
    from export.onnx_io import ParityReport

    ckpt = tmp_path / "g.pth"
    torch.save(cyclegan_sd(ResnetGenerator(3, 3, 8, 1)), ckpt)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    bad = ParityReport(0.98, 40, 1000, [(64, 64)], "CPUExecutionProvider")
    monkeypatch.setattr(exporter, "parity", lambda *a, **k: bad)
    with pytest.raises(ExportError, match="parity check failed, nothing written"):
        exporter.export_model(
            "cyclegan", ckpt, out_dir / "g.onnx", parity_sizes=[(64, 64)], log=lambda _: None
        )
    assert list(out_dir.iterdir()) == []
