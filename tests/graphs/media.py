"""Reading a graph's output file back for the graph tests: pictures, times and the audio track."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass
class Decoded:
    times: list[Fraction]  # each video frame's pts in seconds (exact)
    frames: list[np.ndarray]  # RGB
    audio_codec: str | None
    audio_packets: int  # non-empty packets of the first audio stream


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        acodec = a.codec_context.name if a else None
        apkts = sum(1 for p in c.demux(audio=0) if p.size) if a else 0
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times, frames = [], []
        for f in c.decode(v):
            times.append(Fraction(f.pts) * v.time_base)
            frames.append(f.to_ndarray(format="rgb24"))
    return Decoded(times, frames, acodec, apkts)
