"""streamer/model_contract.py: the names and the metadata record both export/ and streamer/ use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.model_contract import (
    IMAGE_INPUT,
    IMAGE_OUTPUT,
    PREDICTOR_INPUTS,
    PREDICTOR_OUTPUTS,
    STREAMER_FORMAT,
    MetadataError,
    ModelError,
    ModelMetadata,
    canonical_range,
    is_streamer_model,
    predictor_feeds,
    render_prediction,
)

REPO = Path(__file__).resolve().parents[2]

FULL = ModelMetadata(
    family="siamese",
    task="face-embedding",
    source="trained by python -m export siamese, seed 0",
    size_multiple=1,
    preferred_size=112,
    input_size=112,
    input_range="0..255",
    precision="fp32",
    threshold=0.1429,
    margin=0.25,
    embedding_dim=128,
    distance="cosine",
    embedder_id="a60212c093a03f2d",
    alignment="eyes level",
    output="embedding: unit vector",
    state_channels=32,
    state_scale=16,
    input_scale=4,
    extra={"license": "MIT"},
)


def test_round_trip_keeps_every_field() -> None:
    props = FULL.to_metadata()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in props.items())
    assert props["streamer_format"] == STREAMER_FORMAT and props["threshold"] == "0.1429"
    assert props["license"] == "MIT" and props["preferred_size"] == "112"
    assert ModelMetadata.from_metadata(props) == FULL
    minimal = ModelMetadata(family="cyclegan", task="image-to-image")
    assert minimal.to_metadata() == {
        "streamer_format": "1",
        "family": "cyclegan",
        "task": "image-to-image",
        "size_multiple": "1",
    }
    assert ModelMetadata.from_metadata(minimal.to_metadata()) == minimal


@pytest.mark.parametrize(
    "name", ["cartoon", "cartoon_int8", "deepfake", "embedder", "face_drawing", "predictor"]
)
def test_the_shipped_models_read_as_records(name: str) -> None:
    onnx = pytest.importorskip("onnx")
    path = REPO / "models" / f"{name}.onnx"
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    record = ModelMetadata.from_metadata(props)
    assert record.extra == {}, "every key the shipped models carry is in the schema"
    again = record.to_metadata()
    assert set(again) == set(props)
    for key, value in props.items():  # the same values, up to the spelling of numbers
        assert again[key] == value or float(again[key]) == float(value), key


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"size_multiple": "four"}, "metadata size_multiple='four', expected a whole number"),
        ({"preferred_size": "0"}, "metadata preferred_size='0', expected a number >= 1"),
        ({"threshold": "high"}, "metadata threshold='high', expected a number"),
        ({"threshold": "nan"}, "expected a finite number"),
        ({"precision": "int4"}, "metadata precision: expected one of fp32, fp16, int8, got 'int4'"),
        ({"input_range": "0..2"}, "input_range '0..2': expected one of 0..1, -1..1, 0..255"),
        ({"family": ""}, "metadata family: expected a non-empty name, got ''"),
        ({"streamer_format": "2"}, "streamer_format '2' is not supported (expected '1')"),
    ],
)
def test_bad_values_are_one_line_errors(props: dict[str, str], message: str) -> None:
    base = {"streamer_format": "1", "family": "cyclegan", "task": "image-to-image"}
    with pytest.raises(MetadataError) as e:
        ModelMetadata.from_metadata({**base, **props})
    assert message in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, ModelError)


def test_typed_construction_is_validated() -> None:
    with pytest.raises(MetadataError, match="size_multiple: expected a whole number >= 1, got '4'"):
        ModelMetadata(family="x", task="y", size_multiple="4")  # type: ignore[arg-type]
    with pytest.raises(MetadataError, match="margin: expected a number >= 0"):
        ModelMetadata(family="x", task="y", margin=-0.1)
    with pytest.raises(MetadataError, match="extra: expected keys outside the schema"):
        ModelMetadata(family="x", task="y", extra={"family": "z"})
    assert ModelMetadata(family="x", task="y", input_range="-1,1").input_range == "-1..1"
    with pytest.raises(MetadataError, match="expected a streamer model"):
        ModelMetadata.from_metadata({"family": "x"})
    assert not is_streamer_model({"family": "x"}) and is_streamer_model({"streamer_format": "1"})


def test_names() -> None:
    assert (IMAGE_INPUT, IMAGE_OUTPUT) == ("image", "image_out")
    assert PREDICTOR_INPUTS[0] == IMAGE_INPUT and PREDICTOR_INPUTS[-1] == "state"
    assert PREDICTOR_OUTPUTS[-1] == "state_out"
    assert canonical_range(" 0 , 1 ") == "0..1"


def test_predictor_feeds_name_every_input() -> None:
    pic = np.zeros((1, 4, 4, 3), np.uint8)
    state = np.zeros((1, 2, 1, 1), np.float32)
    feeds = predictor_feeds(image=pic, prev=pic, cur=pic, span=3, lag=0.5, state=state)
    assert tuple(feeds) == PREDICTOR_INPUTS
    assert feeds["span"].dtype == np.float32 and feeds["span"].tolist() == [3.0]
    assert feeds["lag"].tolist() == [0.5] and feeds["state"] is state


def test_render_prediction_is_the_one_the_stage_uses() -> None:
    from streamer.stages import predict

    assert predict.render_prediction is render_prediction
    image = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    still = render_prediction(image, np.zeros((2, 4, 6), np.float32), np.zeros((3, 4, 6), np.float32))
    np.testing.assert_array_equal(still, image)  # no motion, no residual: the picture itself
    shifted = render_prediction(
        image, np.full((2, 4, 6), [[[1.0]], [[0.0]]], np.float32), np.zeros((3, 4, 6))
    )
    np.testing.assert_array_equal(shifted[:, :-1], image[:, 1:])  # sampled one pixel to the right
    brighter = render_prediction(
        image, np.zeros((2, 4, 6), np.float32), np.full((3, 4, 6), 300.0, np.float32)
    )
    assert (brighter == 255).all()  # saturating


def test_importing_the_contract_needs_numpy_only() -> None:
    code = (
        "import sys, streamer.model_contract as c; "
        "bad = [m for m in ('onnxruntime', 'torch', 'cv2', 'onnx', 'pydantic') if m in sys.modules]; "
        "mine = sorted(m for m in sys.modules if m.startswith('streamer')); print(bad, mine)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] ['streamer', 'streamer.errors', 'streamer.model_contract']"
