"""dlib-resnet: our reader of dlib's file format, the PyTorch net, and ONNX parity with dlib itself."""

from __future__ import annotations

import bz2
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from export.dlib_format import Reader, read_network
from export.errors import ExportError
from streamer.model_contract import EMBEDDING_OUTPUT, IMAGE_INPUT, ModelMetadata
from tests.face_models import REPO, dlib_model, face_embedder, need

DAT = "dlib_face_recognition_resnet_model_v1.dat"


def test_reader_decodes_dlib_integers_floats_and_bools() -> None:
    # bytes as dlib/serialize.h writes them: 300 = 0x02 2c 01; -5 = 0x81 05; 0 = 0x01 00;
    # 0.75 = mantissa 3, exponent -2; bool '1'; string "ab"
    r = Reader(
        bytes([0x02, 0x2C, 0x01, 0x81, 0x05, 0x01, 0x00, 0x01, 3, 0x81, 2]) + b"1" + b"\x01\x02ab", "x"
    )
    assert (r.int(), r.int(), r.int(), r.float(), r.bool(), r.string()) == (300, -5, 0, 0.75, True, "ab")
    with pytest.raises(ExportError, match="ends early"):
        r.int()


@pytest.fixture(scope="module")
def dat() -> Path:
    return dlib_model(DAT)


def test_reader_reads_every_byte_and_every_weight(dat: Path) -> None:
    from export.nets.dlib_resnet import SPEC

    layers = read_network(dat, SPEC)
    kinds = [layer.kind for layer in layers]
    assert kinds[0] == "input_rgb_image_sized" and kinds[-1] == "fc"
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14
    mean = layers[0].values["mean"]
    assert np.allclose(mean, (122.782, 117.001, 104.298), atol=1e-3)
    total = sum(t.size for layer in layers for t in layer.tensors.values())
    assert total == 5_614_592  # dlib's own count of the model's parameters (affine gamma/beta included)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 3], "ends early"),
        (lambda b: b + b"\x00\x00", "bytes left after"),
        (lambda b: bz2.compress(b[:4096]), "bzip2"),
        (lambda b: b[:9] + b"\x7f" + b[10:], "at byte"),
    ],
    ids=["truncated", "trailing", "compressed", "corrupt"],
)
def test_damaged_files_give_one_line_errors(dat: Path, tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    from export.nets.dlib_resnet import SPEC

    bad = tmp_path / "bad.dat"
    bad.write_bytes(damage(dat.read_bytes()))
    with pytest.raises(ExportError, match=message) as info:
        read_network(bad, SPEC)
    assert "\n" not in str(info.value)


def test_another_dlib_model_is_refused_in_one_line(tmp_path: Path) -> None:
    other = dlib_model("shape_predictor_5_face_landmarks.dat")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "export",
            "dlib-resnet",
            "--checkpoint",
            str(other),
            "--out",
            str(tmp_path / "x.onnx"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "shape_predictor" in r.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_exported_model_matches_dlib_on_real_faces() -> None:
    """The same dlib chips of real people through dlib and through our ONNX model: cosine >= 0.9999."""
    need("dlib")
    path = face_embedder()
    from export.export_dlib import cosine, dlib_chips, dlib_descriptors, real_pictures

    chips, owners = dlib_chips(real_pictures())
    assert len(chips) >= 8 and {0, 1, 2} <= set(owners)  # astronaut, Grace Hopper, carphone frames
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([EMBEDDING_OUTPUT], {IMAGE_INPUT: chips})[0]
    want = dlib_descriptors(dlib_model(DAT), chips)
    assert got.shape == (len(chips), 128) and got.dtype == np.float32
    assert cosine(got.astype(np.float64), want).min() >= 0.9999
    assert np.abs(got - want).max() < 1e-3  # raw descriptors, not only their directions
    # and the people differ: astronaut vs Grace Hopper are far apart in dlib's own distance
    assert np.linalg.norm(want[owners.index(0)] - want[owners.index(1)]) > 0.6


def test_exported_model_records_the_contract() -> None:
    path = face_embedder()
    model = onnx.load(str(path), load_external_data=False)
    meta = ModelMetadata.from_metadata({p.key: p.value for p in model.metadata_props})
    assert (meta.family, meta.task, meta.input_size, meta.alignment) == (
        "dlib-resnet",
        "face-embedding",
        150,
        "dlib-chip",
    )
    assert meta.embedder_id and meta.embedder_id.startswith("dlib-resnet-v1-")
    assert meta.threshold is not None and 0 < meta.threshold < 0.5
    assert "sha256:" in meta.source and "public domain" in meta.source
    inp = model.graph.input[0]
    assert inp.name == IMAGE_INPUT and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
