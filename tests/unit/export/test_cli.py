"""`python -m export` end to end: original-layout checkpoints -> ONNX that matches PyTorch; one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.unit.export.conftest import FAMILIES, REPO, real_frames, reference


def run_export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "export", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_list_names_every_family() -> None:
    r = run_export("list")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    assert {"cyclegan", "fast-style", "animegan2"} <= set(names)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_export_matches_pytorch(family: str, checkpoints: dict, tmp_path: Path) -> None:
    ckpt, net = checkpoints[family]
    out = tmp_path / f"{family}.onnx"
    r = run_export(family, "--checkpoint", str(ckpt), "--out", str(out), "--preferred-size", "64")
    assert r.returncode == 0, r.stderr
    assert "within 1 level" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp files left

    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["family"] == family and meta["task"] == "image-to-image"
    assert meta["input_range"] == FAMILIES[family][2] and meta["size_multiple"] == "4"
    assert meta["preferred_size"] == "64" and meta["streamer_format"] == "1"
    assert meta["source"].startswith(f"{ckpt.name} sha256:")

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "image" and inp.type == "tensor(uint8)" and inp.shape[3] == 3
    assert all(isinstance(d, str) for d in inp.shape[:3])  # N, H, W dynamic
    assert outp.type == "tensor(uint8)"
    for h, w, n in [(64, 64, 2), (44, 60, 3)]:
        frames = real_frames(h, w, n)
        got = sess.run(None, {"image": frames})[0]
        want = reference(net, frames, FAMILIES[family][2])
        assert got.shape == frames.shape
        assert want.std() > 5, "reference output too flat to prove anything"
        diff = np.abs(got.astype(int) - want.astype(int))
        assert (diff <= 1).mean() >= 0.999, f"{family} {h}x{w}: {(diff <= 1).mean():.5f} within 1 level"


def _one_line_failure(r: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temp file either


def test_wrong_family_is_named(checkpoints: dict, tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    r = run_export("cyclegan", "--checkpoint", str(checkpoints["fast-style"][0]), "--out", str(out))
    _one_line_failure(r, out, "looks like a fast-style checkpoint, not cyclegan")
    r = run_export("animegan2", "--checkpoint", str(checkpoints["cyclegan"][0]), "--out", str(out))
    _one_line_failure(r, out, "looks like a cyclegan checkpoint, not animegan2")


def test_truncated_file(checkpoints: dict, tmp_path: Path) -> None:
    src = checkpoints["fast-style"][0].read_bytes()
    bad = tmp_path / "mosaic.pth"
    bad.write_bytes(src[: len(src) // 2])
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    r = run_export("fast-style", "--checkpoint", str(bad), "--out", str(out))
    _one_line_failure(r, out, "is not a readable PyTorch checkpoint (truncated or corrupt?)")
    r = run_export("fast-style", "--checkpoint", str(bad), "--out", str(out), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_missing_keys_are_named(checkpoints: dict, tmp_path: Path) -> None:
    sd = torch.load(checkpoints["animegan2"][0], weights_only=True)
    del sd["block_c.1.layers.1.1.bias"]
    bad = tmp_path / "paprika.pt"
    torch.save(sd, bad)
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    r = run_export("animegan2", "--checkpoint", str(bad), "--out", str(out))
    _one_line_failure(r, out, "missing 1 key(s)", "block_c.1.layers.1.1.bias")


def test_missing_file_and_unknown_family(tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    r = run_export("cyclegan", "--checkpoint", str(tmp_path / "nope.pth"), "--out", str(out))
    _one_line_failure(r, out, "does not exist")
    r = run_export("pix2pixhd", "--checkpoint", str(tmp_path / "nope.pth"), "--out", str(out))
    _one_line_failure(r, out, "unknown family 'pix2pixhd'")


def test_int8_variant(checkpoints: dict, tmp_path: Path) -> None:
    import cv2
    from skimage import data

    clip = tmp_path / "calib"
    clip.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        cv2.imwrite(str(clip / f"{name}.png"), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "cg_int8.onnx"
    ckpt = checkpoints["cyclegan"][0]
    r = run_export(
        "cyclegan",
        "--checkpoint",
        str(ckpt),
        "--out",
        str(out),
        "--int8",
        "--calibration",
        str(clip),
        "--preferred-size",
        "64",
    )
    assert r.returncode == 0, r.stderr
    assert "PSNR" in r.stdout and "CPU threads" in r.stdout
    model = onnx.load(str(out))
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "int8"
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    frames = real_frames(64, 64)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": frames})[0]
    want = reference(checkpoints["cyclegan"][1], frames, "-1..1")
    mse = np.mean((got.astype(float) - want.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 25


def test_fp16_variant(checkpoints: dict, tmp_path: Path) -> None:
    out = tmp_path / "cg_fp16.onnx"
    ckpt, net = checkpoints["cyclegan"]
    r = run_export(
        "cyclegan", "--checkpoint", str(ckpt), "--out", str(out), "--fp16", "--preferred-size", "64"
    )
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(out))
    conv_w = {i.name: i.data_type for i in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in conv_w.values()
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "fp16"
    assert "fp16" in r.stdout


@pytest.mark.parametrize(
    ("command", "out", "message"),
    [
        ("deepfake", "model.txt", "must end in .onnx"),
        ("siamese", "no/such/folder/embedder.onnx", "does not exist: create it first"),
        ("cartoon", "no/such/folder/cartoon.onnx", "does not exist: create it first"),
    ],
)
def test_trainers_check_the_output_path_before_training(
    tmp_path: Path, command: str, out: str, message: str
) -> None:
    """A wrong --out is a one-line error at once, not after the training it would have thrown away."""
    r = run_export(command, "--quick", "--out", str(tmp_path / out))
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error:") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.onnx"))
