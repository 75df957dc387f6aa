"""One test over every registered stage type: documented, typed, and it really runs.

A new stage type must be added to MINIMAL below (its smallest valid parameters); the test
fails for any registered type that is missing, so no stage ships untested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.frame import Frame
from streamer.stages.base import RunContext, Sink, Source, load_all, summary_line
from tests.unit.stages.conftest import make_frame

ROOT = Path(__file__).resolve().parents[3]


def _translate_model(tmp: Path) -> str:
    from tests.helpers_onnx import ours  # torch is a test dependency

    return str(ours(tmp / "m.onnx"))


def _verify_params(tmp: Path) -> dict[str, Any]:
    from streamer.faces.embed import Embedder
    from streamer.faces.gallery import Gallery
    from tests.helpers_onnx import embedding

    model = embedding(tmp / "emb.onnx")
    gallery = Gallery(Embedder(model).embedder_id, threshold=0.3).save(tmp / "gallery.json")
    return {"gallery": str(gallery), "model": str(model)}


MINIMAL: dict[str, Any] = {
    "capture": lambda tmp: {"uri": "testsrc", "frames": 3, "width": 64, "height": 48},
    "encode": lambda tmp: {"path": str(tmp / "o.mp4")},
    "deepfake": lambda tmp: {"model": str(ROOT / "models" / "deepfake.onnx")},
    "display": None,  # needs a screen: covered by test_display (Xvfb)
    "events": lambda tmp: {"path": str(tmp / "e.jsonl")},
    "face_detect": lambda tmp: {},
    "frames": lambda tmp: {"dir": str(tmp / "f")},
    "null": lambda tmp: {},
    "overlay": lambda tmp: {},
    "predict": lambda tmp: {},
    "preview": lambda tmp: {},
    "resize": lambda tmp: {"width": 32},
    "translate": lambda tmp: {"model": _translate_model(tmp)},
    "verify": _verify_params,
}

TYPES = sorted(t for t in load_all() if not t.startswith("t_"))


def test_every_stage_type_is_covered() -> None:
    missing = [t for t in TYPES if t not in MINIMAL]
    assert not missing, f"add minimal params for {missing} to MINIMAL"


@pytest.mark.parametrize("type_name", TYPES)
def test_stage_is_documented_and_strict(type_name: str) -> None:
    cls = load_all()[type_name]
    assert cls.type_name == type_name
    assert cls.__module__ == f"streamer.stages.{type_name}", "one stage type per module, named after it"
    assert summary_line(cls) and len(summary_line(cls)) < 120
    for key, field in cls.Params.model_fields.items():
        assert field.description, f"{type_name}.{key} has no docstring"
    with pytest.raises(ValidationError):
        cls.Params(**{"no_such_key": 1})


@pytest.mark.parametrize("type_name", TYPES)
def test_stage_runs(type_name: str, tmp_path: Path) -> None:
    maker = MINIMAL.get(type_name)
    if maker is None:
        pytest.skip(f"{type_name} needs hardware; tested in its own module")
    cls = load_all()[type_name]
    stage = cls(type_name, cls.Params(**maker(tmp_path)), RunContext())
    stage.open()
    try:
        if isinstance(stage, Source):
            got = list(stage.frames())
            assert len(got) == 3 and [f.index for f in got] == [0, 1, 2]
            assert all(isinstance(f, Frame) for f in got)
            return
        frames = [make_frame(index=i, width=64, height=48) for i in range(3)]
        before = [f.image.copy() for f in frames]
        outs: list[Any] = []
        for f in frames:
            out = stage.process(f)
            outs.extend(out if isinstance(out, (list, tuple)) else [out])  # one frame, several, or None
        outs += list(stage.flush())
        for f, b in zip(frames, before, strict=True):
            assert np.array_equal(f.image, b), "stages never modify their input in place"
        if isinstance(stage, Sink):
            assert all(o is None for o in outs)
        else:
            assert all(isinstance(o, Frame) for o in outs if o is not None)
    finally:
        stage.close()
        stage.close()  # closing twice is safe
