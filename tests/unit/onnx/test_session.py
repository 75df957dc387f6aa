"""streamer/onnx/session.py: opening files, the metadata record, ``run_raw``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from streamer.onnx_model import ModelError, OnnxModel
from tests import helpers_onnx as H
from tests.unit.onnx.conftest import images as _images
from tests.unit.onnx.conftest import one_line as _one_line


def test_metadata_is_read(models: dict[str, Path]) -> None:
    info = OnnxModel(models["mult4"]).info
    assert not info.foreign
    assert (info.family, info.task, info.size_multiple, info.preferred_size) == (
        "test-mult4",
        "image-to-image",
        4,
        32,
    )
    assert info.input_range == "-1..1" and info.streamer_format == "1"  # the contract spelling
    assert OnnxModel(models["foreign"], input_range="-1,1").info.foreign


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(tmp_path / "nope.onnx")
    msg = _one_line(e)
    assert "not found" in msg and "nope.onnx" in msg
    with pytest.raises(ModelError, match="is a folder"):
        OnnxModel(tmp_path)


def test_corrupt_files(tmp_path: Path, models: dict[str, Path]) -> None:
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n" * 10)
    truncated = tmp_path / "truncated.onnx"
    data = models["ours"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path in (text, truncated):
        with pytest.raises(ModelError) as e:
            OnnxModel(path)
        msg = _one_line(e)
        assert msg.startswith(f"{path}: not a valid ONNX model")


def test_newer_streamer_format(tmp_path: Path) -> None:
    path = H.ours(tmp_path / "v2.onnx", meta={"streamer_format": "2"})
    with pytest.raises(ModelError, match="streamer_format '2' is not supported") as e:
        OnnxModel(path)
    _one_line(e)


def test_bad_metadata_number(tmp_path: Path) -> None:
    path = H.ours(tmp_path / "badmeta.onnx", meta={"size_multiple": "four"})
    with pytest.raises(ModelError, match="size_multiple='four', expected a whole number"):
        OnnxModel(path)


def test_run_raw_for_other_models(models: dict[str, Path]) -> None:
    model = OnnxModel(models["embedding"], kind="any")
    x = _images(3, 10, 12)
    out = model.run_raw({"image": x})
    assert list(out) == ["embedding"] and out["embedding"].shape == (3, 8)
    mean = x.astype(np.float32).mean(axis=(1, 2))
    np.testing.assert_allclose(out["embedding"][:, :3], mean, rtol=1e-5)
    with pytest.raises(ModelError, match=r"expected inputs \['image'\], got \['x'\]"):
        model.run_raw({"x": x})
    with pytest.raises(ModelError, match="needs an image model"):
        model.run(x)


def test_model_file_is_valid_onnx(models: dict[str, Path]) -> None:
    """The helper's models carry the metadata keys of DESIGN 3.2."""
    props = {p.key: p.value for p in onnx.load(str(models["ours"])).metadata_props}
    assert {"family", "task", "size_multiple", "preferred_size", "input_range", "source"} <= set(props)
