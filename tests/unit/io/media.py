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


# -- real containers made from real footage (timestamp and early-end tests) ----------------------


def ffmpeg(*args: str | Path) -> None:
    """Run the ffmpeg command line quietly; skip the calling test when it is not installed."""
    import shutil
    import subprocess

    import pytest

    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("needs the ffmpeg command line (apt install ffmpeg)")
    subprocess.run([exe, "-v", "error", "-nostdin", "-y", *map(str, args)], check=True, timeout=120)


def _vop_types(data: bytes) -> list[int]:
    """MPEG-4 Part 2 VOP coding types in one packet (0 I, 1 P, 2 B, 3 S)."""
    types, i = [], data.find(b"\x00\x00\x01\xb6")
    while i >= 0 and i + 4 < len(data):
        types.append(data[i + 4] >> 6)
        i = data.find(b"\x00\x00\x01\xb6", i + 4)
    return types


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value


def _time_increment_bits(data: bytes) -> int:
    """Bits of vop_time_increment, from the VOL header (ISO 14496-2 6.2.3)."""
    bits = _Bits(data[data.find(b"\x00\x00\x01\x20") + 4 :])
    bits.read(9)  # random_accessible_vol, video_object_type_indication
    if bits.read(1):  # is_object_layer_identifier
        bits.read(7)
    if bits.read(4) == 15:  # aspect_ratio_info: extended PAR
        bits.read(16)
    if bits.read(1):  # vol_control_parameters
        bits.read(3)
        if bits.read(1):
            bits.read(79)
    bits.read(3)  # video_object_layer_shape, marker
    return max(1, (bits.read(16) - 1).bit_length())


def _n_vop(b_vop: bytes, increment_bits: int) -> bytes:
    """A not-coded VOP ("N-VOP", what DivX writes in the slot of a packed B-frame)."""
    bits = _Bits(b_vop[4:])
    bits.read(2)
    out = [0, 1]  # P-VOP
    while True:  # modulo_time_base: ones, then a zero
        out.append(bits.read(1))
        if not out[-1]:
            break
    out += [bits.read(1) for _ in range(increment_bits + 2)]  # marker, increment, marker
    out += [0, 0]  # vop_coded = 0, then stuffing: a zero and ones to the byte boundary
    out += [1] * (-len(out) % 8)
    return b"\x00\x00\x01\xb6" + bytes(
        int("".join(map(str, out[k : k + 8])), 2) for k in range(0, len(out), 8)
    )


def packed_bframes_avi(source: Path, path: Path, *, seconds: float = 5.0) -> Path:
    """A DivX/Xvid-style AVI: MPEG-4 Part 2 with packed B-frames (a P-VOP and the following
    B-VOP in one chunk, an N-VOP in the next, "DivX503b1393p" user data), AC3 audio, 24000/1001
    fps (``source`` re-timed: every frame kept). PyAV decodes its pts as 1, 3, 2, 5, 4, ..."""
    import av

    plain, video_only = path.with_suffix(".plain.avi"), path.with_suffix(".video.avi")
    ffmpeg(
        "-r", "24000/1001", "-i", source,
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-bf", "1", "-q:v", "5", "-vtag", "XVID",
        "-c:a", "ac3", "-b:a", "96k", "-shortest", plain,
    )  # fmt: skip
    with av.open(str(plain)) as src:
        stream = src.streams.video[0]
        chunks = [bytes(p) for p in src.demux(stream) if p.size]
        bits = _time_increment_bits(chunks[0])
        vop = chunks[0].find(b"\x00\x00\x01\xb6")
        chunks[0] = chunks[0][:vop] + b"\x00\x00\x01\xb2DivX503b1393p" + chunks[0][vop:]
        types = [(_vop_types(c) or [0])[0] for c in chunks]
        packed: list[bytes] = []
        i = 0
        while i < len(chunks):
            if i + 1 < len(chunks) and types[i] != 2 and types[i + 1] == 2:
                packed += [chunks[i] + chunks[i + 1], _n_vop(chunks[i + 1], bits)]
                i += 2
            else:
                packed.append(chunks[i])
                i += 1
        with av.open(str(video_only), "w", format="avi") as dst:
            out = dst.add_stream_from_template(stream)
            for k, chunk in enumerate(packed):
                packet = av.Packet(chunk)
                packet.stream, packet.time_base = out, stream.time_base
                packet.pts = packet.dts = k
                packet.is_keyframe = _vop_types(chunk)[:1] == [0]
                dst.mux(packet)
    # the AVI muxer keeps AC3 timing only when FFmpeg copies it
    ffmpeg("-i", video_only, "-i", plain, "-map", "0:v", "-map", "1:a", "-c", "copy", "-vtag", "XVID", path)
    return path


def vfr_mkv(source: Path, path: Path) -> Path:
    """Matroska with variable frame rate: 60 frames at 29.97 fps, the rest at half that, plus
    a 48 kHz AAC sine."""
    ffmpeg(
        "-i", source, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-vf", "setpts='(N+max(0,N-60))*1001/30000/TB'", "-fps_mode", "vfr",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-bf", "2", "-c:a", "aac", "-t", "6", path,
    )  # fmt: skip
    return path


def wrapping_ts(source: Path, path: Path) -> Path:
    """MPEG-TS whose 33-bit pts wrap 2.3 s in (about 95443.7 s after 0), with AAC audio."""
    ffmpeg(
        "-i", source, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-bf", "2", "-g", "30", "-c:a", "aac",
        "-output_ts_offset", "95441.4", path,
    )  # fmt: skip
    return path


def raw_h264(source: Path, path: Path, *, fps: int = 30) -> Path:
    """A raw H.264 elementary stream (no container, no timestamps) at ``fps``: every frame of
    ``source`` re-timed to that rate; the rate is only in the SPS timing info."""
    ffmpeg("-r", str(fps), "-i", source, "-c:v", "libx264", "-bf", "2", "-f", "h264", path)
    return path


def faststart_mp4(source: Path, path: Path) -> Path:
    """MP4 with its index (moov) before the data, so a cut file still opens, + AAC audio."""
    ffmpeg(
        "-i", source, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-shortest",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-g", "30", "-c:a", "aac",
        "-movflags", "+faststart", path,
    )  # fmt: skip
    return path


def cut(source: Path, path: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes (a download or copy that stopped)."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def damaged(source: Path, path: Path, *, at: float = 0.5, size: int = 20000, seed: int = 1) -> Path:
    """``source`` with ``size`` random bytes written over it at ``at`` of its length."""
    data = bytearray(source.read_bytes())
    start = int(len(data) * at)
    data[start : start + size] = np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def restarted_ts(source: Path, path: Path) -> Path:
    """Two MPEG-TS recordings of 2 s back to back in one file (a recorder that restarted):
    the second starts at the same timestamps as the first. Their tones differ (440, 880 Hz), so
    each audio packet tells which recording it belongs to."""
    parts = []
    for i in range(2):
        part = path.with_suffix(f".part{i}.ts")
        ffmpeg(
            "-ss", str(2 * i), "-t", "2", "-i", source,
            "-f", "lavfi", "-i", f"sine=frequency={440 * (i + 1)}:sample_rate=48000", "-t", "2",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-bf", "2", "-g", "30", "-c:a", "aac", part,
        )  # fmt: skip
        parts.append(part.read_bytes())
    path.write_bytes(b"".join(parts))
    return path


def read_capture(spec: object, limit: int | None = None) -> tuple[list[np.ndarray], list[int], int]:
    """A source's RGB pictures, pts and number of audio packets (the first ``limit`` frames)."""
    from streamer.io import open_source

    src = open_source(spec, counters={})  # type: ignore[arg-type]
    src.open()
    images, pts, audio = [], [], 0
    for raw in src.frames():
        images.append(raw.image)
        pts.append(raw.pts)
        audio += len(raw.audio)
        if limit is not None and len(images) >= limit:
            break
    src.close()
    return images, pts, audio
