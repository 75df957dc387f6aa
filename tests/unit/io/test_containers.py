"""Real containers with awkward timestamps, made from real footage, through the
``file_transcode`` graph (capture -> encode, audio copied): every frame once, the duration,
strictly increasing pts, audio in sync and without new gaps, and the repair counted."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from streamer.graph import load_graph
from streamer.runner import RunOptions, RunResult, run_graph
from tests.real_footage import clip
from tests.unit.io.media import packed_bframes_avi, raw_h264, restarted_ts, vfr_mkv, wrapping_ts

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Probe:
    frames: list[Fraction]  # video frame times (s) in decoding order
    audio: list[tuple[Fraction, Fraction]]  # audio packets: (start, duration) in s
    audio_data: list[bytes]

    @property
    def audio_end(self) -> Fraction:
        return self.audio[-1][0] + self.audio[-1][1]

    def audio_gaps(self) -> int:
        """Audio packets that start more than 1 ms after the previous one ended."""
        ends = [s + d for s, d in self.audio]
        return sum(1 for (s, _), e in zip(self.audio[1:], ends, strict=False) if s - e > Fraction(1, 1000))


def probe(path: Path) -> Probe:
    with av.open(str(path)) as c:
        frames = [Fraction(f.pts) * f.time_base for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        packets = [p for p in (c.demux(audio=0) if c.streams.audio else ()) if p.size and p.pts is not None]
        audio = [(Fraction(p.pts) * p.time_base, Fraction(p.duration or 0) * p.time_base) for p in packets]
        data = [_payload(bytes(p)) for p in packets]
    return Probe(frames, audio, data)


def _payload(data: bytes) -> bytes:
    """An AAC packet without its ADTS header (MPEG-TS has one, MP4 strips it)."""
    if len(data) > 9 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return data[7 if data[1] & 1 else 9 :]
    return data


def transcode(src: Path, out: Path, *sets: str) -> tuple[RunResult, list[str]]:
    log: list[str] = []
    spec = load_graph(ROOT / "graphs" / "file_transcode.yaml", [f"cam.uri={src}", f"out.path={out}", *sets])
    result = run_graph(spec, RunOptions(quiet=True, handle_signals=False, log=log.append))
    assert result.error is None, result.error
    return result, log


def check_kept(src: Probe, dst: Probe, reference: list[Fraction], interval: Fraction) -> None:
    """``reference``: the input's true frame times (sorted)."""
    assert len(dst.frames) == len(reference)  # every frame once
    assert all(b > a for a, b in zip(dst.frames, dst.frames[1:], strict=False))  # strictly increasing
    span_in, span_out = reference[-1] - reference[0], dst.frames[-1] - dst.frames[0]
    assert abs(span_out - span_in) <= interval, (float(span_in), float(span_out))
    if not src.audio:
        return
    # audio/video offset at the start and the end as in the input, within one frame
    start_in, start_out = src.audio[0][0] - reference[0], dst.audio[0][0] - dst.frames[0]
    end_in, end_out = src.audio_end - reference[-1], dst.audio_end - dst.frames[-1]
    assert abs(start_out - start_in) <= interval, (float(start_in), float(start_out))
    assert abs(end_out - end_in) <= interval, (float(end_in), float(end_out))
    assert len(dst.audio) == len(src.audio)  # every audio packet copied
    assert dst.audio_gaps() == src.audio_gaps() == 0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("containers")


def test_avi_with_packed_b_frames_keeps_duration_and_audio(media: Path, tmp_path: Path) -> None:
    src = packed_bframes_avi(clip("carphone"), media / "divx.avi")
    before = probe(src)
    assert before.frames[:5] != sorted(before.frames[:5])  # the case itself: pts out of order
    result, log = transcode(src, tmp_path / "out.mp4")
    interval = Fraction(1001, 24000)
    check_kept(before, probe(tmp_path / "out.mp4"), sorted(before.frames), interval)
    counters = result.stage("cam").counters
    assert counters.get("pts_reordered", 0) >= len(before.frames) // 2
    assert not {"pts_discontinuity", "pts_duplicate", "audio_dropped"} & set(counters)
    assert any("timestamps from the frame rate (avi" in line for line in log)


def test_variable_frame_rate_mkv_is_kept_as_is(media: Path, tmp_path: Path) -> None:
    src = vfr_mkv(clip("carphone"), media / "vfr.mkv")
    before = probe(src)
    result, log = transcode(src, tmp_path / "out.mp4")
    after = probe(tmp_path / "out.mp4")
    check_kept(before, after, before.frames, Fraction(1001, 30000))
    steps_in = [b - a for a, b in zip(before.frames, before.frames[1:], strict=False)]
    steps_out = [b - a for a, b in zip(after.frames, after.frames[1:], strict=False)]
    assert steps_out == steps_in and len(set(steps_in)) > 1  # the uneven rhythm, exactly
    assert not any(k.startswith("pts_") for k in result.stage("cam").counters)
    assert any("timestamps from the container (matroska" in line for line in log)


def test_mpegts_across_a_pts_wrap(media: Path, tmp_path: Path) -> None:
    src = wrapping_ts(clip("carphone"), media / "wrap.ts")
    before = probe(src)
    # FFmpeg unwraps against the first timestamp: the file starts at a negative time
    assert before.frames[0] < 0 < before.frames[-1]
    result, _ = transcode(src, tmp_path / "out.mp4")
    after = probe(tmp_path / "out.mp4")
    check_kept(before, after, before.frames, Fraction(1001, 30000))
    assert min(after.frames[0], after.audio[0][0]) >= 0
    assert "pts_discontinuity" not in result.stage("cam").counters


@pytest.fixture(scope="module")
def raw(media: Path) -> Path:
    return raw_h264(clip("carphone"), media / "clip.h264", fps=30)


def test_raw_h264_is_numbered_at_its_own_rate(raw: Path, tmp_path: Path) -> None:
    src = raw
    with av.open(str(src)) as c:
        assert c.streams.video[0].average_rate == 25  # what the demuxer guesses
        count = sum(1 for _ in c.decode(video=0))
    result, log = transcode(src, tmp_path / "out.mp4")
    after = probe(tmp_path / "out.mp4")
    reference = [Fraction(i, 30) for i in range(count)]
    check_kept(Probe(reference, [], []), after, reference, Fraction(1, 30))
    assert after.frames == reference  # exactly 1/30 s apart: 4.0 s, not 4.8
    assert result.stage("cam").counters["pts_from_rate"] == count
    assert any("timestamps from the frame rate (h264" in line and "30 fps" in line for line in log)


def test_capture_fps_numbers_a_raw_stream(raw: Path, tmp_path: Path) -> None:
    result, log = transcode(raw, tmp_path / "out.mp4", "cam.fps=24")
    after = probe(tmp_path / "out.mp4")
    assert after.frames == [Fraction(i, 24) for i in range(len(after.frames))]
    assert any("24 fps" in line for line in log)


def test_restarted_recording_continues_in_sync(media: Path, tmp_path: Path) -> None:
    """Two recordings in one MPEG-TS: the second restarts the clock. Video and audio both
    continue one frame later, by the same shift."""
    src = restarted_ts(clip("carphone"), media / "restart.ts")
    before = probe(src)
    half = len(before.frames) // 2
    assert before.frames[half] < before.frames[half - 1]  # the case itself
    first, second = before.frames[:half], before.frames[half:]
    interval = Fraction(1001, 30000)
    span = (first[-1] - first[0]) + interval + (second[-1] - second[0])
    reference = [first[0] + span * i / (len(before.frames) - 1) for i in range(len(before.frames))]
    result, _ = transcode(src, tmp_path / "out.mp4")
    after = probe(tmp_path / "out.mp4")
    counters = result.stage("cam").counters
    assert counters["pts_discontinuity"] == 1 and counters["audio_discontinuity"] == 1
    assert len(after.frames) == len(before.frames)
    assert all(b > a for a, b in zip(after.frames, after.frames[1:], strict=False))
    assert abs((after.frames[-1] - after.frames[0]) - (reference[-1] - reference[0])) <= interval
    # the second recording's audio keeps its place against its video (tones tell them apart)
    k = next(i for i in range(1, len(before.audio)) if before.audio[i][0] < before.audio[i - 1][0])
    second_tone = set(before.audio_data[k:]) - set(before.audio_data[:k])
    j = next(i for i, d in enumerate(after.audio_data) if d in second_tone)
    i = before.audio_data.index(after.audio_data[j], k)
    offset_in = before.audio[i][0] - second[0]
    offset_out = after.audio[j][0] - after.frames[half]
    assert abs(offset_out - offset_in) <= interval, (float(offset_in), float(offset_out))
    assert abs((after.audio_end - after.frames[-1]) - (before.audio_end - before.frames[-1])) <= interval
    assert after.audio_gaps() == 0
    # at most the packet that overlaps the junction is dropped (counted)
    assert len(before.audio) - len(after.audio) == counters.get("audio_dropped", 0) <= 1
