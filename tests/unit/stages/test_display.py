from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.errors import SinkError
from streamer.stages.base import STAGES, RunContext
from streamer.stages.display import Display

ROOT = Path(__file__).resolve().parents[3]


def test_registered() -> None:
    assert STAGES["display"] is Display and Display.role == "sink"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY check is Linux-only")
def test_no_display_is_one_line_sink_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    stage = Display("out", Display.Params(), RunContext())
    with pytest.raises(SinkError) as info:
        stage.open()
    msg = str(info.value)
    assert "\n" not in msg
    assert "'out'" in msg and "DISPLAY" in msg and "encode" in msg
    stage.close()  # never opened: nothing to do, no error


def test_opencv_error_becomes_sink_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    def refuse(*args: object) -> None:
        raise cv2.error(
            "OpenCV(5.0.0) window.cpp:123: error: (-2:Unspecified error) The function is not implemented"
        )

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", refuse)
    stage = Display("out", Display.Params(title="preview"), RunContext())
    with pytest.raises(SinkError) as info:
        stage.open()
    msg = str(info.value)
    assert "\n" not in msg and "not implemented" in msg and "'out'" in msg


def test_params() -> None:
    p = Display.Params()
    assert (p.title, p.fit, p.close_stops) == (None, True, True)
    assert Display("out", p, RunContext()).title == "out"
    assert Display("out", Display.Params(title="cam"), RunContext()).title == "cam"
    with pytest.raises(ValidationError):
        Display.Params(window="x")  # type: ignore[call-arg]


# Qt may abort the whole process on X errors, so the real window runs in a child process.
_CHILD = textwrap.dedent(
    """
    import json, sys
    import cv2
    from streamer.stages.base import RunContext
    from streamer.stages.display import Display
    from tests.unit.stages.conftest import make_frame

    ctx = RunContext()
    stage = Display("out", Display.Params(title="streamer-test"), ctx)
    stage.open()
    for i in range(3):
        stage.process(make_frame(i, 1920, 1080))  # larger than 1280x720: fit scales down
    rect = cv2.getWindowImageRect("streamer-test")
    visible = cv2.getWindowProperty("streamer-test", cv2.WND_PROP_VISIBLE)
    stopped_before = ctx.stop.is_set()
    cv2.destroyWindow("streamer-test")  # as if the user closed it
    cv2.waitKey(1)
    stage.process(make_frame(3, 1920, 1080))
    stage.close()
    stage.close()
    print(json.dumps({"rect": list(rect), "visible": visible,
                      "stopped_before": stopped_before, "stopped_after": ctx.stop.is_set()}))
    """
)


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_real_window_under_xvfb(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as r:
            number = r.readline().strip()
        assert number, "Xvfb did not report a display number"
        env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["visible"] >= 1
    assert result["rect"][2:] == [1280, 720]  # 1920x1080 fitted into 1280x720
    assert result["stopped_before"] is False
    assert result["stopped_after"] is True  # closing the window stops the graph
