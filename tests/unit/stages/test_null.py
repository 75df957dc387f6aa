from __future__ import annotations

import pytest
from pydantic import ValidationError

from streamer.stages.base import STAGES, RunContext, Sink
from streamer.stages.null import Null
from tests.unit.stages.conftest import make_frame


def test_registered_as_sink() -> None:
    assert STAGES["null"] is Null
    assert issubclass(Null, Sink) and Null.role == "sink"


def test_consumes_frames_and_passes_nothing() -> None:
    stage = Null("out", Null.Params(), RunContext())
    stage.open()
    frame = make_frame(0)
    before = frame.image.copy()
    assert [stage.process(make_frame(i)) for i in range(3)] == [None, None, None]
    assert stage.process(frame) is None
    assert (frame.image == before).all()
    assert stage.flush() == ()
    stage.close()


def test_rejects_unknown_params() -> None:
    with pytest.raises(ValidationError):
        Null.Params(path="x")  # type: ignore[call-arg]
