"""The timestamp repair rules (streamer.io.timestamps) on recorded pts sequences."""

from __future__ import annotations

from fractions import Fraction

from streamer.io.timestamps import AudioTimeline, Breaks, VideoTimeline

WRAP = 2**33  # MPEG-TS pts wrap, 90 kHz ticks


def repair(seq: list[int | None], **kwargs: object) -> tuple[list[int], list[int], dict[str, int]]:
    """(pts out, which input each output frame is, counters): frames keep their order."""
    counters: dict[str, int] = {}
    line: VideoTimeline[int] = VideoTimeline(counters=counters, **kwargs)  # type: ignore[arg-type]
    out = [pair for i, p in enumerate(seq) for pair in line.push(p, i)] + line.flush()
    return [p for p, _ in out], [i for _, i in out], counters


def test_packed_b_frames_are_sorted_without_offset() -> None:
    # DivX packed B-frames in AVI, as PyAV hands them out: 1, 3, 2, 5, 4, ...
    seq = [1, 3, 2, 5, 4, 7, 6, 9, 8, 10]
    pts, order, counters = repair(seq, step=1, depth=4)
    assert pts == list(range(1, 11))
    assert order == list(range(10))  # pictures stay in the decoder's order, every one once
    assert counters == {"pts_reordered": 8}


def test_sorted_variable_frame_rate_is_kept_exactly() -> None:
    seq = [0, 512, 1100, 1300, 2900, 3000, 9000, 9100]
    pts, _, counters = repair(seq, step=512, depth=4)
    assert pts == seq and counters == {}


def test_missing_pts_runs_are_one_frame_apart() -> None:
    pts, order, counters = repair([0, 10, None, None, 40, 50, None], step=10, depth=2)
    assert pts == [0, 10, 20, 30, 40, 50, 60] and order == list(range(7))
    assert counters == {"pts_missing": 3}


def test_duplicate_goes_into_the_gap_before_the_next() -> None:
    pts, _, counters = repair([0, 10, 20, 20, 40, 50], step=10, depth=2)
    assert pts == [0, 10, 20, 30, 40, 50]
    assert counters == {"pts_duplicate": 1}


def test_duplicate_without_room_moves_the_rest_one_frame() -> None:
    # one tick per frame (AVI-like): an extra frame can only push the rest one frame later
    pts, _, counters = repair([0, 1, 2, 2, 3, 4], step=1, depth=2)
    assert pts == [0, 1, 2, 3, 4, 5]
    assert counters == {"pts_duplicate": 1}


def test_small_step_back_is_fixed_locally() -> None:
    # 12 after 30 is beyond what a window of one frame sorts, but no break (within 2 frames)
    pts, _, counters = repair([0, 10, 20, 30, 12, 40, 50], step=10, depth=1)
    assert pts == [0, 10, 20, 25, 30, 40, 50]
    assert counters == {"pts_reordered": 2, "pts_nonmonotonic": 1}


def test_restart_continues_one_frame_later() -> None:
    # two recordings back to back: the second starts at 0 again
    seq = list(range(10)) + list(range(5))
    pts, _, counters = repair(seq, step=1, depth=2)
    assert pts == list(range(15))
    assert counters == {"pts_discontinuity": 1}


def test_forward_jump_is_a_break_only_where_the_format_allows_it() -> None:
    tb = Fraction(1, 90000)
    seq = [0, 3600, 7200, 7200 + 90000 * 60, 10800 + 90000 * 60]
    kept, _, counters = repair(seq, step=3600, depth=2, time_base=tb)  # mp4: a long still scene
    assert kept == seq and counters == {}
    pts, _, counters = repair(seq, step=3600, depth=2, time_base=tb, forward_breaks=True)  # mpegts
    assert pts == [0, 3600, 7200, 10800, 14400] and counters == {"pts_discontinuity": 1}


def test_frames_without_timestamps_are_numbered_at_the_rate() -> None:
    pts, _, counters = repair([None] * 4 + [123456], step=1001, depth=0, from_rate=True)
    assert pts == [0, 1001, 2002, 3003, 4004]
    assert counters == {"pts_from_rate": 5}


def test_wrap_shifts_audio_and_video_by_the_same_time() -> None:
    """An MPEG-TS pts wrap the demuxer did not unwrap: both streams continue, in sync."""
    vtb, atb = Fraction(1, 90000), Fraction(1, 90000)
    counters: dict[str, int] = {}
    breaks = Breaks()
    video: VideoTimeline[int] = VideoTimeline(
        step=3600, depth=2, counters=counters, forward_breaks=True, time_base=vtb, breaks=breaks
    )
    audio = AudioTimeline(time_base=atb, counters=counters, breaks=breaks, forward_breaks=True)
    v_in = [WRAP - 3600 * 3 + 3600 * i for i in range(6)]  # 3 frames before the wrap, 3 after
    a_in = [WRAP - 3600 * 3 - 700 + 1920 * i for i in range(12)]  # AAC at 48 kHz, 40 ms ahead
    v_out = [p for i, p in enumerate(v_in) for p, _ in video.push(p % WRAP, i)] + [
        p for p, _ in video.flush()
    ]
    a_out = [dts % WRAP + audio.adjust(dts % WRAP, 1920) for dts in a_in]
    assert v_out == v_in  # continues as if there were no wrap
    assert a_out == a_in
    assert counters == {"pts_discontinuity": 1, "audio_discontinuity": 1}


def test_audio_first_to_see_a_restart_gives_the_video_its_offset() -> None:
    vtb, atb = Fraction(1, 25), Fraction(1, 48000)
    counters: dict[str, int] = {}
    breaks = Breaks()
    video: VideoTimeline[int] = VideoTimeline(
        step=1, depth=0, counters=counters, time_base=vtb, breaks=breaks
    )
    audio = AudioTimeline(time_base=atb, counters=counters, breaks=breaks)
    for i in range(100):  # 4 s of both
        video.push(i, i)
        audio.adjust(i * 1920, 1920)
    a_off = audio.adjust(0, 1920)  # the restart reaches the audio first
    (v_pts, _), *_ = video.push(0, 100)
    assert a_off * atb == Fraction(4)  # audio continues at 4 s
    assert v_pts * vtb == Fraction(4)  # and so does the video: the same shift
    assert counters == {"pts_discontinuity": 1, "audio_discontinuity": 1}


def test_reordering_never_moves_the_audio() -> None:
    counters: dict[str, int] = {}
    breaks = Breaks()
    video: VideoTimeline[int] = VideoTimeline(
        step=1, depth=4, counters=counters, time_base=Fraction(1001, 24000), breaks=breaks
    )
    audio = AudioTimeline(time_base=Fraction(4, 125), counters=counters, breaks=breaks)
    offsets = []
    for i, p in enumerate([1, 3, 2, 5, 4, 7, 6, 9, 8]):
        video.push(p, i)
        offsets.append(audio.adjust(i, 1))
    assert set(offsets) == {0} and "audio_discontinuity" not in counters
