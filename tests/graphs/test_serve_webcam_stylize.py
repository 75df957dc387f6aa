"""graphs/webcam_stylize.yaml runs headless with --serve: without a screen its display stage
becomes a preview of the same name, watched at /stream/out.mjpg (the README's command)."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("aiohttp", reason="the serve extra is not installed: pip install -e '.[serve]'")

from tests.unit.serve.conftest import start_served, stop, until  # noqa: E402
from tests.unit.serve.test_api import _mjpeg_frames  # noqa: E402


def test_webcam_stylize_headless_with_serve() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    args = [
        "graphs/webcam_stylize.yaml",
        "--set",
        "cam.uri=samples/one_face.mp4",
        "--realtime",
        "--serve",
        "0",
    ]
    served = start_served([*args, "-q"], env=env, timeout=60)
    try:
        assert "out: no display" in served.stderr and "/stream/out.mjpg" in served.stderr
        status, graph = served.json("/api/graph")
        assert status == 200 and [(s["name"], s["type"]) for s in graph["stages"]][-1] == ("out", "preview")
        pictures = _mjpeg_frames(served.url("/stream/out.mjpg?width=320"), 1, timeout=30)
        assert pictures and pictures[0].shape == (180, 320, 3)

        def sunk() -> bool:
            status, body = served.request("/api/metrics")
            out = json.loads(body)["stages"][-1]
            return status == 200 and out["frames_in"] > 0 and out["e2e_p50_ms"] is not None

        until(sunk, timeout=30)
    finally:
        stop(served)
    assert served.proc.returncode == 0, served.stderr
