"""Test media made on the fly with PyAV: short clips with known content, and a UDP sender.

Clips are small (160x120) so tests stay fast; every frame has a bright bar whose position
encodes the frame index, and the audio is a 440 Hz sine in AAC.
"""

from __future__ import annotations

import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def bar_image(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """A grey picture with a white vertical bar at x = 4 * index (mod width)."""
    image = np.full((height, width, 3), 60, np.uint8)
    x = (index * 4) % (width - 16)
    image[:, x : x + 16] = 255
    return image


def make_clip(
    path: Path,
    *,
    frames: int = 30,
    width: int = 160,
    height: int = 120,
    fps: int = 30,
    audio: bool = True,
) -> Path:
    """Write a libx264 (+ AAC) clip like FFmpeg would, and return its path."""
    import av

    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    sound = None
    if audio:
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
    sample = 0
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(bar_image(i, width, height), format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in video.encode(frame):
            out.mux(packet)
        while sound is not None and sample < (i + 1) * 44100 // fps:
            t = np.arange(sample, sample + 1024) / 44100
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 44100, sample, Fraction(1, 44100)
            for packet in sound.encode(af):
                out.mux(packet)
            sample += 1024
    for packet in video.encode(None):
        out.mux(packet)
    if sound is not None:
        for packet in sound.encode(None):
            out.mux(packet)
    out.close()
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UdpSender(threading.Thread):
    """Sends solid-colour frames as MPEG-TS to udp://127.0.0.1:port, paced at real time."""

    def __init__(self, port: int, color: tuple[int, int, int], seconds: float, fps: int = 30):
        super().__init__(daemon=True)
        self.port, self.color, self.seconds, self.fps = port, color, seconds, fps
        self.stop = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        import av

        try:
            out = av.open(f"udp://127.0.0.1:{self.port}?pkt_size=1316", "w", format="mpegts")
            video = out.add_stream(
                "libx264", rate=self.fps, options={"tune": "zerolatency", "preset": "ultrafast"}
            )
            video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
            video.codec_context.gop_size = 10
            image = np.empty((120, 160, 3), np.uint8)
            image[:] = self.color
            start = time.monotonic()
            i = 0
            while not self.stop.is_set() and i < self.seconds * self.fps:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, self.fps)
                for packet in video.encode(frame):
                    out.mux(packet)
                i += 1
                self.sent = i
                delay = start + i / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for packet in video.encode(None):
                out.mux(packet)
            out.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
