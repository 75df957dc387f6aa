"""streamer/onnx/preprocess.py: the one resolver for how pictures enter a model.

Precedence (timm's ``resolve_data_config``): what the input tensor says < what our metadata says
< the stage's parameters; what a layer cannot override is a one-line error naming the fix.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from streamer.model_contract import ModelError, ModelMetadata
from streamer.onnx.preprocess import PreprocessParams, range_to_mean_std, resolve, square_size

OURS = ModelMetadata(family="siamese", task="face-embedding", preferred_size=64, input_size=64)


def tensor(shape: list[object], type_: str = "tensor(float)", name: str = "input") -> SimpleNamespace:
    """Stands in for an onnxruntime NodeArg (.name, .type, .shape)."""
    return SimpleNamespace(name=name, type=type_, shape=shape)


def _crops(n: int = 2, s: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, s, s, 3), dtype=np.uint8)


def test_layout_from_the_tensor_unless_params_say_otherwise() -> None:
    nchw, nhwc, square3 = tensor(["N", 3, 112, 112]), tensor(["N", 112, 112, 3]), tensor(["N", 3, "H", 3])
    mean_std = {"mean": [127.5], "std": [127.5]}
    assert resolve(nchw, None, PreprocessParams(**mean_std), path="m").layout == "nchw"
    assert resolve(nhwc, None, PreprocessParams(**mean_std), path="m").layout == "nhwc"
    guess_nhwc = tensor(["N", "C", "H", 3])  # the shape suggests nhwc; the params know better
    assert resolve(guess_nhwc, None, PreprocessParams(**mean_std), path="m").layout == "nhwc"
    pre = resolve(guess_nhwc, None, PreprocessParams(layout="nchw", **mean_std), path="m")
    assert pre.layout == "nchw" and pre.sources["layout"] == "params"
    with pytest.raises(ModelError, match="does not show the layout; set layout"):
        resolve(square3, None, PreprocessParams(**mean_std), path="m")
    assert resolve(square3, None, PreprocessParams(layout="nhwc", **mean_std), path="m").layout == "nhwc"


def test_our_metadata_fixes_the_convention_and_params_cannot_override_it() -> None:
    ours = tensor(["N", "H", "W", 3], "tensor(uint8)", "image")
    pre = resolve(ours, OURS, PreprocessParams(), path="m")
    assert (pre.layout, pre.channel_order, pre.normalised) == ("nhwc", "rgb", False)
    x = _crops()
    np.testing.assert_array_equal(pre.to_input(x), x)
    with pytest.raises(ModelError, match="mean, std given, but this model's metadata fixes them") as e:
        resolve(ours, OURS, PreprocessParams(mean=[1.0], std=[2.0]), path="m")
    assert "\n" not in str(e.value)
    with pytest.raises(ModelError, match="expected input 'image' uint8"):
        resolve(tensor(["N", 3, "H", "W"], name="image"), OURS, PreprocessParams(), path="m")


def test_size_precedence_fixed_then_params_then_metadata_then_default() -> None:
    dyn = tensor(["N", 3, "H", "W"])
    fixed = tensor(["N", 3, 112, 112])
    p = PreprocessParams(mean=[0.0], std=[1.0])
    dyn_pre, fixed_pre = resolve(dyn, None, p, path="m"), resolve(fixed, None, p, path="m")
    assert square_size(dyn_pre, None, None, path="m", default=99) == 99  # default
    ours_pre = resolve(
        tensor(["N", "H", "W", 3], "tensor(uint8)", "image"), OURS, PreprocessParams(), path="m"
    )
    assert square_size(ours_pre, OURS, None, path="m", default=99) == 64  # metadata
    assert square_size(ours_pre, OURS, 80, path="m", default=99) == 80  # params over metadata
    assert square_size(fixed_pre, None, None, path="m", default=99) == 112  # the model's own size
    with pytest.raises(ModelError, match="size 80 given, but the model only takes 112x112"):
        square_size(fixed_pre, None, 80, path="m", default=99)


def test_range_and_mean_std_are_one_vocabulary() -> None:
    assert range_to_mean_std("-1..1") == (127.5, 127.5)
    assert range_to_mean_std("-1,1") == (127.5, 127.5)
    assert range_to_mean_std("0..1") == (0.0, 255.0)
    assert range_to_mean_std("0, 255") == (0.0, 1.0)
    t = tensor(["N", 3, "H", "W"])
    by_range = resolve(t, None, PreprocessParams(input_range="-1,1"), path="m")
    by_mean = resolve(t, None, PreprocessParams(mean=[127.5], std=[127.5, 127.5, 127.5]), path="m")
    x = _crops()
    np.testing.assert_array_equal(by_range.to_input(x), by_mean.to_input(x))
    # the arithmetic translate always did: x * (hi - lo) / 255 + lo, in float32
    want = (x.astype(np.float32) * np.float32(2 / 255) + np.float32(-1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(by_range.to_input(x), want)
    with pytest.raises(ModelError, match="input_range and mean/std both given"):
        resolve(t, None, PreprocessParams(input_range="0..1", mean=[0.0], std=[1.0]), path="m")


def test_to_input_and_from_output_invert_each_other() -> None:
    t = tensor(["N", "H", "W", 3], "tensor(float16)")
    pre = resolve(
        t, None, PreprocessParams(mean=[10, 20, 30], std=[50, 60, 70], channel_order="bgr"), path="m"
    )
    x = _crops(3, 5)
    y = pre.to_input(x)
    assert y.dtype == np.float16 and y.shape == x.shape and y.flags.c_contiguous
    # mean/std are in the model's channel order: its first channel is blue, with mean 10, std 50
    np.testing.assert_allclose(y[..., 0], (x[..., 2] - 10.0) / 50.0, atol=5e-3)
    np.testing.assert_array_equal(pre.from_output(y.astype(np.float32)), x)


def test_foreign_float_needs_normalisation_and_uint8_refuses_it() -> None:
    f = tensor(["N", 3, "H", "W"])
    with pytest.raises(ModelError, match="set input_range .* or set mean and std") as e:
        resolve(f, None, PreprocessParams(), path="m.onnx", name="fake")
    assert "--set fake.mean=127.5 --set fake.std=127.5" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelError, match="set std too"):
        resolve(f, None, PreprocessParams(mean=[1.0]), path="m")
    with pytest.raises(ModelError, match="std must not be 0"):
        resolve(f, None, PreprocessParams(mean=[1.0], std=[1.0, 0.0, 1.0]), path="m")
    with pytest.raises(ModelError, match="one number or three"):
        resolve(f, None, PreprocessParams(mean=[1.0, 2.0], std=[1.0]), path="m")
    u8 = tensor(["N", "H", "W", 3], "tensor(uint8)")
    with pytest.raises(ModelError, match="takes uint8 pixels"):
        resolve(u8, None, PreprocessParams(input_range="0..1"), path="m")
    bgr = resolve(u8, None, PreprocessParams(channel_order="bgr"), path="m")  # order still applies
    x = _crops()
    np.testing.assert_array_equal(bgr.to_input(x), x[..., ::-1])
    with pytest.raises(ModelError, match="expected an image input of rank 4"):
        resolve(tensor(["N", 3, 8]), None, PreprocessParams(), path="m")
    with pytest.raises(ModelError, match="has 4 channels, expected 3"):
        resolve(tensor(["N", 4, 8, 8]), None, PreprocessParams(layout="nchw", mean=[0], std=[1]), path="m")
