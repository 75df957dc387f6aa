"""Reading a graph's output file back for the graph tests: pictures, times and the audio track."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamer.io.picture import to_rgb


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
            frames.append(to_rgb(f))  # the stream's matrix; untagged HD as BT.709, as players do
    return Decoded(times, frames, acodec, apkts)


def run_and_decode(graph: Path, overrides: list[str], clip: Path, out: Path, frames: int) -> dict[str, Any]:
    """Run ``graph`` offline on its first ``frames`` source frames (``overrides`` must send its
    output to ``out``), then decode source and output: what the graph tests compare."""
    from streamer.graph import load_graph
    from streamer.runner import RunOptions, run_graph

    spec = load_graph(graph, overrides)
    result = run_graph(spec, RunOptions(max_frames=frames, quiet=True, handle_signals=False))
    assert result.error is None, result.error
    src, dst = decode(clip), decode(out)
    return {
        "result": result,
        "src_t": src.times[:frames],
        "src": src.frames[:frames],
        "dst_t": dst.times,
        "dst": dst.frames,
        "acodec": (src.audio_codec, dst.audio_codec),
        "apkts": (src.audio_packets, dst.audio_packets),
    }
