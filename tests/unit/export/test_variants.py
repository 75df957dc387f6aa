"""Parity floors of the int8 and fp16 variants: measured against the fp32 model on real frames,
printed, and a variant that misses its floor is refused unless ``--allow-unchecked``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from export import exporter
from export.errors import ExportError
from tests.unit.export.conftest import real_frames
from tests.unit.export.test_cli import run_export


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's photos as a folder of calibration images."""
    import cv2
    from skimage import data

    folder = tmp_path_factory.mktemp("calib")
    for name in ("astronaut", "chelsea", "coffee"):
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    return folder


def _quiet(_msg: str) -> None:
    pass


def test_fp16_passes_its_floor_and_prints_the_value(checkpoints: dict, tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "cg_fp16.onnx"
    result = exporter.export_model(
        "cyclegan", checkpoints["cyclegan"][0], out, fp16=True, preferred_size=64, log=lines.append
    )
    assert out.exists() and not result.unchecked
    assert result.variant_psnr is not None and result.variant_psnr >= exporter.FP16_PSNR_FLOOR == 40.0
    line = next(x for x in lines if "fp16 vs fp32 ONNX" in x)
    assert re.search(r"on \d+ real frames: PSNR [\d.]+ dB \(floor 40 dB\): ok", line), line
    assert {p.key: p.value for p in onnx.load(str(out)).metadata_props}["precision"] == "fp16"


def test_fp16_below_a_floor_is_refused(
    checkpoints: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporter, "FP16_PSNR_FLOOR", 1000.0)
    out = tmp_path / "out" / "cg_fp16.onnx"
    out.parent.mkdir()
    with pytest.raises(ExportError) as e:
        exporter.export_model(
            "cyclegan", checkpoints["cyclegan"][0], out, fp16=True, preferred_size=64, log=_quiet
        )
    msg = str(e.value)
    assert "\n" not in msg and "fp16 misses its parity floor" in msg and "(floor 1000 dB)" in msg
    assert re.search(r"PSNR [\d.]+ dB", msg) and "--allow-unchecked" in msg
    assert list(out.parent.iterdir()) == []  # nothing written, no temp file left


def test_int8_that_quantizes_badly_is_refused(checkpoints: dict, calibration: Path, tmp_path: Path) -> None:
    """The test fast-style net (output layer scaled x300) loses too much in int8: refused by the CLI."""
    out = tmp_path / "out" / "fs_int8.onnx"
    out.parent.mkdir()
    args = ["fast-style", "--checkpoint", str(checkpoints["fast-style"][0]), "--out", str(out), "--int8"]
    r = run_export(*args, "--calibration", str(calibration), "--preferred-size", "64")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: int8 misses its parity floor"), r.stderr
    measured = re.search(r"PSNR ([\d.]+) dB \(floor 30 dB\)", lines[0])
    assert measured and float(measured.group(1)) < 30.0, lines[0]
    assert list(out.parent.iterdir()) == []

    r = run_export(*args, "--calibration", str(calibration), "--preferred-size", "64", "--allow-unchecked")
    assert r.returncode == 0, r.stderr
    assert "warning: int8 misses its parity floor" in r.stderr and "--allow-unchecked" in r.stderr
    assert f"PSNR {measured.group(1)} dB" in r.stderr  # the same measurement, reported
    assert "int8, unchecked" in r.stdout
    model = onnx.load(str(out))
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "int8"
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)


def test_int8_above_its_floor_is_written_with_the_value(
    checkpoints: dict, calibration: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    out = tmp_path / "cg_int8.onnx"
    result = exporter.export_model(
        "cyclegan",
        checkpoints["cyclegan"][0],
        out,
        int8=True,
        calibration=calibration,
        preferred_size=64,
        log=lines.append,
    )
    assert result.variant_psnr is not None and result.variant_psnr >= exporter.INT8_PSNR_FLOOR == 30.0
    pattern = r"int8 vs fp32 ONNX on \d+ real frames: PSNR [\d.]+ dB \(floor 30 dB\): ok"
    assert any(re.search(pattern, x) for x in lines), lines
    assert out.exists() and not result.unchecked


def test_a_variant_that_cannot_run_here_is_refused_unless_allowed(
    checkpoints: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_kernels(*_args: object, **_kw: object) -> float:
        raise RuntimeError("Could not find an implementation for Conv(11) node\nmore detail")

    monkeypatch.setattr(exporter, "variant_psnr", no_kernels)
    out = tmp_path / "cg_fp16.onnx"
    kw = {"fp16": True, "preferred_size": 64, "log": _quiet}
    with pytest.raises(
        ExportError, match=r"fp16 parity floor not checked: .*Could not find an implementation"
    ):
        exporter.export_model("cyclegan", checkpoints["cyclegan"][0], out, **kw)  # type: ignore[arg-type]
    assert not out.exists()
    result = exporter.export_model(
        "cyclegan",
        checkpoints["cyclegan"][0],
        out,
        allow_unchecked=True,
        **kw,  # type: ignore[arg-type]
    )
    assert out.exists() and result.unchecked and result.variant_psnr is None
    assert "warning: fp16 parity floor not checked" in capsys.readouterr().err


def test_psnr_of_a_variant_is_pooled_over_batches(tmp_path: Path) -> None:
    """variant_psnr pools the squared error of every batch (not a mean of per-batch dB)."""
    from export.quantize import variant_psnr
    from tests import helpers_onnx as H

    a = H.ours(tmp_path / "a.onnx", seed=0)
    b = H.ours(tmp_path / "b.onnx", seed=1)
    batches = [real_frames(32, 32, 2), real_frames(24, 40, 1)]
    assert variant_psnr(a, a, batches) == float("inf")
    import onnxruntime as ort

    sa, sb = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (a, b))
    diff = np.concatenate(
        [
            (sa.run(None, {"image": x})[0].astype(float) - sb.run(None, {"image": x})[0]).ravel()
            for x in batches
        ]
    )
    want = 10 * np.log10(255.0**2 / np.mean(diff**2))
    assert variant_psnr(a, b, batches) == pytest.approx(want, rel=1e-9)
