"""IO binding through the CPU provider: the code a GPU runs (bound buffers, OrtValue state,
batch bins), exercised in CI with OrtValues on "cpu" and compared with plain ``run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.frame import Frame
from streamer.onnx import OnnxModel, OnnxSession, bins_up_to, is_ortvalue
from streamer.stages.base import RunContext
from streamer.stages.predict import Predict
from tests.unit.onnx.conftest import images
from tests.unit.stages.conftest import make_frame

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "models"


def test_bound_image_runs_equal_plain_runs_and_never_alias(models: dict[str, Path]) -> None:
    plain = OnnxModel(models["mult4"], providers=["cpu"], threads=1)
    bound = OnnxModel(models["mult4"], providers=["cpu"], threads=1, io_binding=True)
    assert (plain.binds, bound.binds, bound.device) == (False, True, "cpu")
    x = images(2, 33, 47, seed=1)
    keep = x.copy()
    results = [bound.run(x), bound.run(x), bound.run(images(2, 33, 47, seed=2))]  # 2nd: preallocated out
    np.testing.assert_array_equal(x, keep)  # the caller's array is never a bound buffer
    np.testing.assert_array_equal(results[0], plain.run(x))
    np.testing.assert_array_equal(results[1], results[0])  # not overwritten by the third run
    np.testing.assert_array_equal(results[2], plain.run(images(2, 33, 47, seed=2)))


def test_run_raw_through_binding_equals_plain(models: dict[str, Path]) -> None:
    x = images(3, 32, 32, seed=3)
    plain = OnnxSession(models["embedding"], providers=["cpu"], threads=1).run_raw({"image": x})
    bound = OnnxSession(models["embedding"], providers=["cpu"], threads=1, io_binding=True)
    out = bound.run_raw({"image": x})
    assert out.keys() == plain.keys()
    for k in out:
        assert isinstance(out[k], np.ndarray)
        np.testing.assert_array_equal(out[k], plain[k])


def test_bins_up_to() -> None:
    assert bins_up_to(1) == (1,)
    assert bins_up_to(8) == (1, 2, 4, 8)
    assert bins_up_to(6) == (1, 2, 4, 6)
    with pytest.raises(ValueError, match="at least 1"):
        bins_up_to(0)


@pytest.mark.parametrize("io_binding", [False, True])
def test_batch_bins_show_the_session_only_bin_shapes(models: dict[str, Path], io_binding: bool) -> None:
    """Face counts 1..11 per call: the session sees batches 1, 2, 4, 8 only, and every output
    equals running each image on its own (padding is cut off, never leaks into real outputs)."""
    model = OnnxModel(
        models["ours"], providers=["cpu"], threads=1, io_binding=io_binding, batch_bins=bins_up_to(8)
    )
    single = OnnxModel(models["ours"], providers=["cpu"], threads=1)
    for n in range(1, 12):
        x = images(n, 24, 24, seed=n)
        y = model.run(x)
        assert y.shape == x.shape
        want = np.concatenate([single.run(x[i : i + 1]) for i in range(n)])
        assert np.abs(y.astype(int) - want).max() <= 1  # batched conv may round differently by 1 level
        assert np.mean(y == want) > 0.999
    assert {shape[0] for shape in model.shapes_run} == {1, 2, 4, 8}
    assert all(shape[1:] == (24, 24, 3) for shape in model.shapes_run)


# ------------------------------------------------------------------ predictor state as an OrtValue


def _pan(i: int) -> np.ndarray:
    from skimage import data

    astro = data.astronaut()
    return np.ascontiguousarray(astro[100:196, 300 - 2 * i : 460 - 2 * i])


def _frames() -> list[Frame]:
    """translate every: 2 output (inverted on even frames), with one live gap (index 7 missing)."""
    out = []
    for i in [*range(7), *range(8, 12)]:
        raw = _pan(i)
        styled = i % 2 == 0
        out.append(make_frame(i, image=255 - raw if styled else raw, translated=styled))
    return out


def _predict(io_binding: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Frame], list[object]]:
    monkeypatch.setattr(Predict, "io_binding", io_binding)
    stage = Predict(
        "fill",
        Predict.Params(model=str(MODELS / "predictor.onnx"), threads=1),
        RunContext(log=lambda _m: None),
    )
    stage.open()
    out, states = [], []
    for f in _frames():
        out.extend(stage.process(f))
        states.append(stage.state)
    out.extend(stage.flush())
    stage.close()
    return out, states


@pytest.mark.skipif(not (MODELS / "predictor.onnx").exists(), reason="models/predictor.onnx not shipped")
def test_predictor_state_stays_an_ortvalue_and_is_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    numpy_out, numpy_states = _predict(False, monkeypatch)
    bound_out, bound_states = _predict(True, monkeypatch)
    assert not any(is_ortvalue(s) for s in numpy_states)
    assert all(is_ortvalue(s) for s in bound_states[1:])  # between frames: an OrtValue, never numpy
    assert [f.index for f in bound_out] == list(range(12))
    assert sum(bool(f.predicted) for f in bound_out) >= 6
    for a, b in zip(numpy_out, bound_out, strict=True):
        assert (a.index, a.pts, a.predicted) == (b.index, b.pts, b.predicted)
        np.testing.assert_array_equal(a.image, b.image)
    for a, b in zip(numpy_states[1:], bound_states[1:], strict=True):
        np.testing.assert_array_equal(a, b.numpy())
