"""Network sources on the loopback: UDP MPEG-TS receive, and reconnect after the sender restarts.

A sender thread encodes solid-colour frames with PyAV to udp://127.0.0.1:<port> at real time;
the capture side reads the same URL. Bounded: every wait has a deadline and a stop event.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from streamer.io import SourceSpec, open_source
from tests.unit.io.media import UdpSender, free_udp_port

RED = (200, 30, 30)
BLUE = (30, 30, 200)


def _color(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 3).mean(0)


def _is(image: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool(np.abs(_color(image) - color).max() < 12)


def test_udp_mpegts_loopback() -> None:
    port = free_udp_port()
    sender = UdpSender(port, RED, seconds=2.0)
    sender.start()
    stop = threading.Event()
    timer = threading.Timer(12, stop.set)
    timer.start()
    src = open_source(SourceSpec(uri=f"udp://127.0.0.1:{port}", timeout=3, reconnect=0), stop=stop)
    try:
        src.open()
        assert src.info is not None and src.info.live and (src.info.width, src.info.height) == (160, 120)
        frames = list(src.frames())  # ends when the sender stops (reconnect off)
    finally:
        src.close()
        timer.cancel()
        sender.stop.set()
        sender.join(5)
    assert sender.error is None
    assert len(frames) >= 0.6 * sender.sent, (len(frames), sender.sent)
    assert all(_is(f.image, RED) for f in frames)
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))


def test_reconnect_after_sender_restarts() -> None:
    port = free_udp_port()
    first = UdpSender(port, RED, seconds=1.5)
    first.start()
    stop = threading.Event()
    timer = threading.Timer(18, stop.set)
    timer.start()
    counters: dict[str, int] = {}
    logs: list[str] = []
    spec = SourceSpec(
        uri=f"udp://127.0.0.1:{port}",
        timeout=1.0,
        reconnect_delay=0.2,
        reconnect_max_delay=0.5,
    )
    src = open_source(spec, stop=stop, counters=counters, log=logs.append)
    second = UdpSender(port, BLUE, seconds=3.0)

    def restart() -> None:
        first.join(10)
        time.sleep(1.5)  # the stream is away long enough for the read to time out
        second.start()

    restarter = threading.Thread(target=restart, daemon=True)
    frames = []
    try:
        src.open()
        restarter.start()
        for frame in src.frames():
            frames.append(frame)
            if sum(_is(f.image, BLUE) for f in frames) >= 20:
                break
    finally:
        src.close()
        stop.set()
        timer.cancel()
        first.stop.set()
        restarter.join(10)
        second.stop.set()
        if second.is_alive():
            second.join(10)
    assert first.error is None and second.error is None
    assert counters.get("reconnects", 0) >= 1
    assert any("reconnect" in line for line in logs)
    colors = ["red" if _is(f.image, RED) else "blue" if _is(f.image, BLUE) else "?" for f in frames]
    assert colors.count("red") >= 20 and colors.count("blue") >= 20 and "?" not in colors
    assert colors == sorted(colors, key=lambda c: c != "red")  # all red, then all blue
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    # the time the stream was away shows as a gap (>= 1 s at 90 kHz) between red and blue
    switch = colors.index("blue")
    gap = (pts[switch] - pts[switch - 1]) * frames[0].time_base
    assert gap > 1
