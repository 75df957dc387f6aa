"""streamer/onnx/adapter.py: OnnxModel.run on image models, ours and foreign."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.onnx_model import CUDA, ModelError, OnnxModel, gpu_problem
from tests import helpers_onnx as H
from tests.unit.onnx.conftest import NO_GPU
from tests.unit.onnx.conftest import images as _images
from tests.unit.onnx.conftest import one_line as _one_line


def test_run_matches_torch(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"], providers=["cpu"])
    x = _images()
    before = x.copy()
    y = model.run(x)
    assert y.dtype == np.uint8 and y.shape == x.shape
    ref = H.torch_reference("ours", x)
    assert np.abs(y.astype(int) - ref).max() <= 1
    assert np.abs(y.astype(int) - x).mean() > 5  # the net really changes the picture
    np.testing.assert_array_equal(x, before)


def test_padding_to_size_multiple(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"], providers=["cpu"])
    x = _images(2, 30, 45)
    # the raw session cannot take this size: padding is what makes it work
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's own error type
        model.session.run(None, {"image": x})
    y = model.run(x)
    assert y.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 2), (0, 3), (0, 0)), mode="reflect")
    direct = model.session.run(None, {"image": padded})[0][:, :30, :45]
    np.testing.assert_array_equal(y, direct)
    # and on a size that is already a multiple it is the torch module exactly
    x4 = _images(1, 32, 48)
    assert np.abs(model.run(x4).astype(int) - H.torch_reference("multiple", x4)).max() <= 1


def test_padding_tiny_image_uses_edge(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"], providers=["cpu"])
    x = _images(1, 2, 3)  # pad of 2/1 rows/cols: reflect impossible for H=2
    assert model.run(x).shape == (1, 2, 3, 3)


def test_warmup_and_preferred_size(models: dict[str, Path]) -> None:
    model = OnnxModel(models["mult4"])
    assert model.preferred_size() == 32
    assert model.round_size(30) == 32 and model.round_size(1) == 4
    model.warmup()
    model.warmup((20, 28))


def test_run_rejects_bad_arrays(models: dict[str, Path]) -> None:
    model = OnnxModel(models["ours"])
    with pytest.raises(ValueError, match=r"expected uint8 array \[N, H, W, 3\], got float32"):
        model.run(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="got uint8"):
        model.run(np.zeros((8, 8, 3), np.uint8))


def test_mismatched_outputs(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["embedding"])
    msg = _one_line(e)
    assert str(models["embedding"]) in msg
    assert "expected an image output uint8 [N, H, W, 3]" in msg and "'embedding' tensor(float)" in msg


def test_mismatched_inputs(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["float_meta"])
    msg = _one_line(e)
    assert "expected input 'image' uint8 [N, H, W, 3], got 'image' tensor(float)" in msg


def test_foreign_nchw_equals_ours(models: dict[str, Path]) -> None:
    ours = OnnxModel(models["ours"]).run(_images())
    foreign = OnnxModel(models["foreign"], input_range="-1,1")
    assert foreign.layout == "nchw"  # read from the shape [N, 3, H, W]
    assert np.abs(foreign.run(_images()).astype(int) - ours).max() <= 1


def test_foreign_nhwc_01_and_bgr_equal_ours(models: dict[str, Path]) -> None:
    x = _images(1, 40, 24, seed=3)
    ours = OnnxModel(models["ours"]).run(x).astype(int)
    nhwc = OnnxModel(models["foreign_nhwc01"], input_range="0..1", layout="nhwc")
    assert np.abs(nhwc.run(x).astype(int) - ours).max() <= 1
    bgr = OnnxModel(models["foreign_bgr"], input_range="0,255", channel_order="bgr")
    assert np.abs(bgr.run(x).astype(int) - ours).max() <= 1
    # the wrong channel order gives a different picture: the parameter matters
    wrong = OnnxModel(models["foreign_bgr"], input_range="0,255", channel_order="rgb")
    assert np.abs(wrong.run(x).astype(int) - ours).max() > 20


def test_foreign_fixed_size_is_resized(models: dict[str, Path]) -> None:
    import cv2

    model = OnnxModel(models["foreign_fixed"], input_range="-1,1")
    assert model.fixed_size == (32, 32) and model.preferred_size() == 32
    x = _images(2, 48, 40)
    y = model.run(x)
    assert y.shape == x.shape
    small = cv2.resize(x[1], (32, 32), interpolation=cv2.INTER_AREA)
    expect = cv2.resize(
        OnnxModel(models["ours"]).run(small[None])[0], (40, 48), interpolation=cv2.INTER_LINEAR
    )
    assert np.abs(y[1].astype(int) - expect).max() <= 2


def test_foreign_needs_input_range(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["foreign"])
    msg = _one_line(e)
    assert "no streamer metadata" in msg and "set input_range" in msg


def test_foreign_params_rejected_for_ours(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as e:
        OnnxModel(models["ours"], layout="nchw", input_range="-1,1")
    msg = _one_line(e)
    assert "input_range, layout given" in msg and "metadata" in msg


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason=f"no usable CUDA here: {gpu_problem(CUDA)}")
def test_cuda_io_binding_matches_cpu(models: dict[str, Path]) -> None:
    """On a GPU machine: IO binding with reused device buffers gives the CPU result, also when
    the shape changes between calls and back."""
    cpu = OnnxModel(models["mult4"], providers=["cpu"])
    gpu = OnnxModel(models["mult4"], providers=["cuda"])
    assert gpu.on_device and gpu.providers[0] == CUDA
    for x in (_images(2, 30, 45), _images(2, 30, 45, seed=1), _images(1, 64, 32), _images(2, 30, 45, seed=2)):
        assert np.abs(gpu.run(x).astype(int) - cpu.run(x)).max() <= 1
    emb = OnnxModel(models["embedding"], providers=["cuda"], kind="any")
    x = _images(3, 10, 12)
    np.testing.assert_allclose(
        emb.run_raw({"image": x})["embedding"],
        OnnxModel(models["embedding"], providers=["cpu"], kind="any").run_raw({"image": x})["embedding"],
        rtol=1e-4,
    )
