"""The --serve contract through HTTP: graph, Prometheus metrics, MJPEG, PATCH, stop, token rules."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.serve.conftest import ROOT, Served, start_served, stop, until


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, parsed by prometheus-client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_graph_metrics_and_stop_finalise(served: Served, tmp_path: Path) -> None:
    status, graph = served.json("/api/graph")
    assert status == 200
    assert [s["name"] for s in graph["stages"]] == ["cam", "half", "rec", "web"]
    assert graph["edges"] == [["cam", "half"], ["cam", "rec"], ["half", "web"]]
    half = next(s for s in graph["stages"] if s["name"] == "half")
    assert half["params"]["width"] == 80 and "width" in half["adjustable"]

    def scrape() -> dict:
        status, body = served.request("/metrics")
        assert status == 200
        return _samples(body.decode())

    key = ("streamer_stage_frames_out_total", (("stage", "cam"), ("type", "capture")))
    first = until(lambda: (m := scrape()).get(key, 0) > 0 and m)
    second = until(lambda: (m := scrape())[key] > first[key] and m)
    assert second[key] > first[key]
    assert ("streamer_stage_latency_seconds_count", (("stage", "half"), ("type", "resize"))) in second
    e2e = ("streamer_sink_e2e_latency_seconds_count", (("sink", "rec"),))
    assert second[e2e] > 0
    assert ("streamer_stage_queue_depth", (("stage", "rec"), ("type", "encode"))) in second
    assert second[("process_resident_memory_bytes", ())] > 0
    assert ("process_cpu_seconds_total", ()) in second

    status, live = served.json("/api/metrics")
    assert status == 200 and live["running"] is True
    web = next(s for s in live["stages"] if s["stage"] == "web")
    assert web["e2e_p50_ms"] is not None and web["queue_size"] == 1

    status, body = served.json("/api/stop", method="POST")
    assert status == 200 and body == {"stopping": True}
    assert served.wait() == 0
    assert "stopped by request (POST /api/stop); outputs finalised" in served.stderr
    assert "e2e p50 ms" in served.stderr
    # finalised like SIGINT: the recording is at its final name and playable
    cap = cv2.VideoCapture(str(tmp_path / "rec.mp4"))
    ok, _ = cap.read()
    cap.release()
    assert ok
    stages = {s["stage"]: s for s in json.loads((tmp_path / "run.json").read_text())["stages"]}
    assert stages["rec"]["e2e_p50_ms"] > 0 and stages["rec"]["e2e_p95_ms"] >= stages["rec"]["e2e_p50_ms"]
    assert stages["cam"]["e2e_p50_ms"] is None  # not a sink


def _mjpeg_frames(url: str, count: int, timeout: float = 10.0) -> list[np.ndarray]:
    """The first ``count`` JPEG parts of an MJPEG stream, decoded (bounded in bytes and time)."""
    pictures: list[np.ndarray] = []
    buf = b""
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        while len(pictures) < count and time.monotonic() < deadline and len(buf) < 20_000_000:
            buf += resp.read1(65536)
            while True:
                start, end = buf.find(b"\xff\xd8"), buf.find(b"\xff\xd9")
                if start < 0 or end < start:
                    break
                jpeg, buf = buf[start : end + 2], buf[end + 2 :]
                pictures.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    return pictures


def test_mjpeg_streams(served: Served) -> None:
    pictures = _mjpeg_frames(served.url("/stream/web.mjpg"), 2)
    assert len(pictures) == 2 and pictures[0].shape == (60, 80, 3)  # the resize stage's output
    pictures = _mjpeg_frames(served.url("/stream/cam.mjpg?width=40"), 2)
    assert len(pictures) == 2 and pictures[0].shape == (30, 40, 3)
    assert served.request("/stream/nope.mjpg")[0] == 404
    status, body = served.request("/stream/cam.mjpg?width=zero")
    assert status == 400 and b"width" in body


def test_patch_validated_like_yaml(served: Served) -> None:
    patch = {"method": "PATCH"}
    status, body = served.json("/api/stages/half", body={"width": 64}, **patch)
    assert status == 200 and body["params"]["width"] == 64 and body["applied"] is True
    status, graph = served.json("/api/graph")
    assert next(s for s in graph["stages"] if s["name"] == "half")["params"]["width"] == 64

    bad = [
        ({"widht": 3}, "key 'widht': unknown key; expected one of:"),
        ({"width": 0}, "key 'width': expected greater than or equal to 1, got 0"),
        ({"queue": 3}, "key 'queue': cannot change while running; adjustable: height, interpolation, width"),
        ([1, 2], "expected a JSON object of params to change"),
    ]
    for change, message in bad:
        status, body = served.json("/api/stages/half", body=change, **patch)
        assert status == 400, body
        assert set(body) == {"error"} and "\n" not in body["error"]
        assert message in body["error"] and "stage 'half' (resize)" in body["error"]
    status, body = served.json("/api/stages/half", body=b"{not json", **patch)
    assert status == 400 and "expected a JSON object" in body["error"]
    status, body = served.json("/api/stages/nope", body={"width": 3}, **patch)
    assert status == 404 and "no stage named 'nope'" in body["error"]


def test_non_loopback_needs_token(graph: Path) -> None:
    run = [sys.executable, "-m", "streamer", "run", str(graph), "--realtime", "--serve", "0.0.0.0:0"]
    t = time.monotonic()
    refused = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and time.monotonic() - t < 30
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "--token" in lines[0] and lines[0].startswith("error: --serve 0.0.0.0:0")

    s = start_served([str(graph), "--realtime", "--serve", "0.0.0.0:0", "--token", "s3cret", "-q"])
    s.token = "s3cret"
    try:
        assert "(token required)" in s.stderr
        for path in ("/api/graph", "/metrics", "/", "/stream/cam.mjpg"):
            status, body = s.request(path)
            assert status == 401 and "unauthorized" in json.loads(body)["error"]
        assert s.request("/api/graph", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert s.request("/api/stop", method="POST")[0] == 401
        assert s.request("/api/graph", headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert s.request("/api/graph?token=s3cret")[0] == 200
        assert s.request("/metrics?token=s3cret")[0] == 200
        assert s.proc.poll() is None  # the unauthorised stop did nothing
    finally:
        stop(s)
    assert s.proc.returncode == 0


def test_bad_address_and_missing_extra(graph: Path) -> None:
    for arg in ("nope", "70000", "host:"):
        r = subprocess.run(
            [sys.executable, "-m", "streamer", "run", str(graph), "--serve", arg],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
        assert "expected [HOST:]PORT" in r.stderr
    code = (
        "import sys; sys.modules['aiohttp'] = None; from streamer.cli import main; "
        f"sys.exit(main(['run', {str(graph)!r}, '--serve', '0']))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1
    assert 'pip install -e ".[serve]"' in lines[0] and "aiohttp" in lines[0]
