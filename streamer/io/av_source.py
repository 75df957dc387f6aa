"""Files and network streams through PyAV, with threaded decoding and audio passthrough.

Timestamps (what sinks and the events file see):

- Files keep the time base and pts the container gives (a 30 fps MP4 from FFmpeg: time base
  1/15360, pts 0, 512, 1024, ...), repaired by ``streamer.io.timestamps`` where the container
  gets them wrong, each case counted apart: reordered pts (DivX packed B-frames in AVI) are
  sorted in a window of 4 frames, frames without pts get previous + one frame, duplicates and
  small steps back move into the next gap, and a real break (a restart; a forward jump over
  10 s in MPEG-TS) shifts the rest to continue one frame later. Variable frame rate is kept.
- Raw elementary streams (.h264, .hevc, .m4v, ...) have no timestamps: frames are numbered at
  the codec's frame rate (the SPS/VOL timing info; FFmpeg's demuxer guesses 25 fps) or at
  ``capture.fps``, time base 1/rate numerator.
- A file that starts before 0 (MPEG-TS unwrapped by FFmpeg across a pts wrap) is moved to
  start at 0, audio by the same time. The log says once where the timing comes from.
- ``loop``: each pass is shifted so that its first frame lands one frame after the last frame
  of the pass before; video and audio are shifted by the same time.
- Reconnect (network): the new connection is shifted so that its first frame lands after the
  last frame by the wall-clock time the stream was away (at least one frame), so a recording
  keeps the gap. The time base stays that of the first connection (later ones are rescaled).
  Live streams use the reorder window only when the codec reorders frames (2 frames).

Audio packets are copied (detached from the demuxer). Audio moves only with real breaks (seen
in its own dts or the video's, one shared record so both shift by the same time), never with
video-only repairs; a packet whose dts would not increase is dropped and counted
(``audio_dropped``).

Damage and early ends (files): packets the demuxer flags as corrupt are counted
(``corrupt_packets``; audio ones dropped, video ones left to the decoder's concealment), as are
AAC packets without their ADTS header in MPEG-TS (dropped) and read errors (skipped; after 50
in a row the file is taken to end there); a frame that does not decode is counted
(``decode_errors``). When a file decodes to fewer frames than its index promises, the counters
``frames_promised``/``frames_missing`` and a warning (``warnings``, shown at the end of the
run, an error with ``streamer run --strict``) say so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from streamer.errors import SourceError
from streamer.frame import StreamInfo
from streamer.io import picture
from streamer.io.audio import AudioHandle, copy_packet
from streamer.io.picture import DecodedPicture, PictureConverter, converter_for
from streamer.io.source import Dropped, RawFrame, VideoSource, _one_line
from streamer.io.timestamps import RAW_FORMATS, AudioTimeline, Breaks, VideoTimeline

DISCONT_FLAG = 0x0200  # AVFMT_TS_DISCONT: the format allows timestamp discontinuities (MPEG-TS)
MAX_DEMUX_ERRORS = 50  # consecutive unreadable packets before a file is taken to end there


class AvSource(VideoSource):
    """A video file or a network stream (udp, rtsp, http(s), srt, ...) decoded by PyAV."""

    def __init__(self, spec: Any, *, network: bool, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.network = network
        self.live = network
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._tb = Fraction(1, 1)  # output time base (first connection's)
        self._step = 1  # ticks per nominal frame in _tb
        self._audio_tb: Fraction | None = None
        self._v_off = 0  # ticks added to video pts (in _tb)
        self._a_off = 0  # ticks added to audio pts/dts (in _audio_tb)
        self._last: int | None = None  # last video pts yielded
        self._last_wall = 0.0
        self._last_adts: int | None = None
        self._pending: list[Any] = []
        self._size: tuple[int, int] = (0, 0)
        self._breaks = Breaks()
        self._vt: VideoTimeline[Any] | None = None
        self._at: AudioTimeline | None = None
        self._from_rate = False  # raw stream: pts are frame index x rate
        self._promised: int | None = None  # frames the container's index promises
        self._decoded = 0  # frames handed out in the current pass
        self._discarded = 0  # video packets the container itself hides (edit lists)
        self.warnings: list[str] = []
        self._adts: bool | None = None  # the audio's first packet had an ADTS header
        self._picture: PictureConverter | None = None
        self._decoder: Any = None  # an NVDEC decoder context (decoder: auto|cuvid), else None
        self._decoder_logged = False

    # -- connection ------------------------------------------------------------------------

    def _open_container(self) -> None:
        import av

        uri = str(self.spec.uri)
        if uri.startswith("file://"):
            uri = uri[len("file://") :]
        options: dict[str, str] = {}
        if uri.startswith("udp://"):
            # a burst bigger than the socket buffer must not end the stream
            options = {"overrun_nonfatal": "1", "fifo_size": "100000"}
        timeout = (self.spec.timeout, self.spec.timeout) if self.network else None
        if not self.network and not Path(uri).expanduser().exists():
            raise SourceError(
                f"video file not found: {uri}; expected a file, image folder or glob, "
                f"camera index, URL or testsrc (--set {self.spec.name}.uri=...)"
            )
        try:
            container = av.open(
                str(Path(uri).expanduser()) if not self.network else uri, options=options, timeout=timeout
            )
        except Exception as exc:  # noqa: BLE001 - PyAV raises many types; all mean "cannot open"
            if self.network:
                raise SourceError(
                    f"cannot open stream {uri} within {self.spec.timeout:g} s "
                    f"({self._reason(exc)}); is the sender running?"
                ) from None
            raise SourceError(f"cannot read {uri} as video ({_one_line(exc)})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{uri} has no video stream; expected a video file or stream")
        self._container = container
        self._video = container.streams.video[0]
        self._video.thread_type = "AUTO"
        self._video.codec_context.thread_count = max(0, int(self.spec.threads))
        self._decoder = self._open_decoder(container)
        self._audio = None
        if self.spec.audio and container.streams.audio:
            self._audio = container.streams.audio[0]

    def _open_decoder(self, container: Any) -> Any:
        """The NVDEC decoder ``decoder:`` asks for (auto: when it opens), or None for FFmpeg's
        own software decoder (PyAV's ``packet.decode()``); a one-line SourceError for ``cuvid``
        where NVDEC cannot work."""
        from streamer.io import hwcodec

        choice = str(getattr(self.spec, "decoder", "cpu") or "cpu")
        if choice == "cpu":
            return None
        codec = str(self._video.codec_context.name)
        name: str | None = None
        try:
            name = hwcodec.choose_decoder(choice, codec, key=f"{self.spec.name}.decoder")  # type: ignore[arg-type]
            if name is None:
                return None
            decoder = hwcodec.open_decoder(self._video, name)
        except SourceError:
            container.close()
            raise
        except Exception as exc:  # noqa: BLE001 - PyAV raises many types; all mean "cannot open"
            if choice == "auto":  # NVDEC opens here but not for this stream (a profile it lacks)
                self.log(
                    f"{name} did not open for this {codec} stream ({_one_line(exc)}); decoding on the CPU"
                )
                return None
            container.close()
            raise SourceError(
                f"{self.spec.name}.decoder: cannot open {choice} for {codec} ({_one_line(exc)})"
            ) from None
        if not self._decoder_logged:
            self.log(f"decoding {codec} with {name}")
            self._decoder_logged = True
        return decoder

    def open(self) -> None:
        self._open_container()
        v = self._video
        rate = v.average_rate or v.guessed_rate or v.base_rate
        rate = Fraction(rate) if rate else None
        self._tb = Fraction(v.time_base) if v.time_base else Fraction(1, 90000)
        if rate:
            self._step = max(1, round(1 / (rate * self._tb)))
        path = None if self.network else self._container.name
        self._picture = converter_for(
            v, width=self.spec.width, height=self.spec.height, fit=self.spec.fit, path=path
        )
        w, h = self._size = self._picture.size  # upright, square pixels, fitted (see picture.py)
        handle = None
        if self._audio is not None:
            handle = AudioHandle.from_stream(self._audio)
            if handle is None:
                self.log(f"audio codec {self._audio.codec_context.name} cannot be passed on")
            else:
                self._audio_tb = handle.time_base
        fmt = str(self._container.format.name)
        self._from_rate = not self.network and bool(RAW_FORMATS.intersection(fmt.split(",")))
        if self._from_rate:  # a raw stream: its own rate, frames numbered (see module doc)
            rate = _stream_rate(v, self.spec.fps)
            self._tb, self._step = Fraction(1, rate.numerator), rate.denominator
        self._start_timelines(fmt, rate)
        self._promised = None if self.network else (v.frames or None)
        frame_count = None
        if not self.network and not self.spec.loop:
            frame_count = v.frames or None
            if frame_count is None and v.duration and rate:
                frame_count = int(v.duration * v.time_base * rate) or None
        self.info = StreamInfo(
            uri=str(self.spec.uri),
            width=w,
            height=h,
            time_base=self._tb,
            rate=rate,
            frame_count=frame_count,
            live=self.network,
            audio=handle,
        )

    def _connect(self) -> None:
        """Reconnect: open again and place the new timeline after the old (see module doc)."""
        self._open_container()
        gap = Fraction(max(0.0, time.monotonic() - self._last_wall)).limit_denominator(1000)
        self._shift_segment(gap)

    def _rewind(self) -> bool:
        self._disconnect()
        self._open_container()
        self._shift_segment(Fraction(0))
        return True

    def _start_timelines(self, fmt: str, rate: Fraction | None) -> None:
        """The repair rules of ``streamer.io.timestamps`` for this stream, and one log line
        saying where its timing comes from."""
        v = self._video
        forward = bool(self._container.format.flags & DISCONT_FLAG)
        # a stream that starts before 0 (MPEG-TS unwrapped by FFmpeg, edit lists) is moved to
        # start at 0, audio by the same time: sinks and players expect no negative times
        starts = [
            Fraction(s.start_time * s.time_base)
            for s in (v, self._audio if self._audio_tb else None)
            if s is not None and s.start_time is not None and s.time_base and not self._from_rate
        ]
        shift = -min(starts) if starts and min(starts) < 0 else Fraction(0)
        if shift:
            self.log(f"timestamps start at {-float(shift):.3f} s; audio and video moved to start at 0")
        self._breaks = Breaks()
        # files: a small window undoes reordered pts (packed B-frames); live streams only pay that
        # latency when the codec reorders frames at all
        depth = 4 if not self.network else (2 if getattr(v.codec_context, "has_b_frames", 0) else 0)
        self._vt = VideoTimeline(
            step=self._step,
            depth=depth,
            counters=self.counters,
            from_rate=self._from_rate,
            forward_breaks=forward,
            time_base=self._tb,
            breaks=self._breaks,
            offset=round(shift / self._tb),
            log=self.log,
        )
        self._at = None
        if self._audio_tb:
            self._at = AudioTimeline(
                time_base=self._audio_tb,
                counters=self.counters,
                breaks=self._breaks,
                forward_breaks=forward,
                offset=round(shift / self._audio_tb),
            )
        if self.network:
            return
        name = fmt.split(",")[0]
        fps = f"{float(rate):.3f}".rstrip("0").rstrip(".") if rate else "?"
        if self._from_rate:
            self.log(
                f"timestamps from the frame rate ({name}: a raw stream has none; {fps} fps from the codec)"
            )
        elif name == "avi":
            self.log(
                f"timestamps from the frame rate (avi numbers its frames, {fps} fps); reordered pts sorted"
            )
        else:
            self.log(f"timestamps from the container ({name})")

    def _shift_segment(self, gap: Fraction) -> None:
        """Offsets for a new connection/pass: first frame at last + max(one frame, gap)."""
        if self._last is None:
            return
        v = self._video
        if self._from_rate or v.start_time is None:
            start = Fraction(0)
        else:
            start = Fraction(v.start_time * v.time_base)
        step_s = self._step * self._tb
        target = (self._last * self._tb) + max(step_s, gap)
        shift = target - start
        self._v_off = round(shift / self._tb)
        self._breaks.clear()
        if self._vt is not None:
            self._vt.start_segment(self._v_off)
        if self._audio_tb:
            self._a_off = round(shift / self._audio_tb)
            if self._at is not None:
                self._at.start_segment(self._a_off)

    def _disconnect(self) -> None:
        container, self._container = self._container, None
        self._video = self._audio = None
        self._decoder = None
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not raise
                pass

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> Iterator[RawFrame]:
        import av

        container, video, audio = self._container, self._video, self._audio
        streams = [video] + ([audio] if audio is not None and self._audio_tb else [])
        demux = container.demux(*streams)
        self._decoded = 0
        self._discarded = 0
        errors = 0  # consecutive unreadable packets
        while True:
            if self.stop.is_set():
                return
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as exc:
                if self.network:
                    yield from self._drain()
                    raise Dropped(self._reason(exc)) from None
                # a damaged stretch of a file: skip it, count it, read on (FFmpeg resyncs)
                self.counters["corrupt_packets"] = self.counters.get("corrupt_packets", 0) + 1
                errors += 1
                if errors >= MAX_DEMUX_ERRORS:
                    self.log(f"{errors} unreadable packets in a row ({_one_line(exc)}); taking it as the end")
                    break
                demux = container.demux(*streams)
                continue
            errors = 0
            if packet.is_corrupt and packet.size:
                # the demuxer saw damage (MPEG-TS continuity, CRC): audio would be copied broken
                # (and fail the muxer), so it is dropped; video goes to the decoder, which
                # conceals what it can (a frame it cannot decode counts as a decode error)
                self.counters["corrupt_packets"] = self.counters.get("corrupt_packets", 0) + 1
                if packet.stream_index != video.index:
                    continue
            if packet.stream_index != video.index:
                self._take_audio(packet)
                continue
            if packet.is_discard and packet.size:
                self._discarded += 1  # decoded as a reference, never shown (an edit list cut it)
            try:
                # the demuxer's last packet is empty: it drains the decoder, whichever it is
                decoded = self._decoder.decode(packet) if self._decoder is not None else packet.decode()
            except av.FFmpegError:
                self.counters["decode_errors"] = self.counters.get("decode_errors", 0) + 1
                continue
            for frame in decoded:
                for pts, held in self._timeline().push(self._in_pts(frame), frame):
                    yield self._emit(held, pts)
        yield from self._drain()
        if self.network and not container.duration:
            # a live stream has no natural end: the sender stopped
            raise Dropped("end of stream")
        self._check_end()
        self._trailing = tuple(self._pending)

    def _timeline(self) -> VideoTimeline[Any]:
        assert self._vt is not None, "AvSource read before open()"
        return self._vt

    def _drain(self) -> Iterator[RawFrame]:
        """Frames still in the reorder window (end of a pass or of a connection)."""
        for pts, held in self._timeline().flush():
            yield self._emit(held, pts)

    def _in_pts(self, frame: Any) -> int | None:
        """A decoded frame's pts in the output time base (None when it has none)."""
        if frame.pts is None or self._from_rate:
            return None
        if frame.time_base is not None and Fraction(frame.time_base) != self._tb:
            return round(frame.pts * Fraction(frame.time_base) / self._tb)
        return int(frame.pts)

    def _check_end(self) -> None:
        """A file that decodes to fewer frames than its index promises: counted and warned."""
        if self._promised is None or self.spec.loop:
            return
        # the index counts frames an edit list hides (a trimmed clip's pre-roll): not promised
        promised = self._promised - self._discarded
        if self._decoded >= promised:
            return
        self.counters["frames_promised"] = promised
        self.counters["frames_missing"] = promised - self._decoded
        message = (
            f"{self.spec.uri}: the container promises {promised} frames, {self._decoded} decoded (truncated?)"
        )
        if message not in self.warnings:
            self.warnings.append(message)

    def _reason(self, exc: BaseException) -> str:
        """One line for a network failure; PyAV's timeout shows as 'Immediate exit requested'."""
        import av

        if isinstance(exc, av.error.ExitError):
            return f"no data for {self.spec.timeout:g} s"
        return _one_line(exc)

    def _take_audio(self, packet: Any) -> None:
        if packet.dts is None or packet.size == 0:
            return
        if self._adts is None:
            self._adts = self._audio.codec_context.name == "aac" and _is_adts(packet)
        elif self._adts and not _is_adts(packet):
            # AAC in MPEG-TS carries an ADTS header on every packet; one without it is damage
            # the demuxer did not flag, and the MP4 muxer would fail on it
            self.counters["corrupt_packets"] = self.counters.get("corrupt_packets", 0) + 1
            return
        offset = self._a_off if self._at is None else self._at.adjust(packet.dts, packet.duration)
        out = copy_packet(packet, offset=offset)
        if self._last_adts is not None and out.dts <= self._last_adts:
            self.counters["audio_dropped"] = self.counters.get("audio_dropped", 0) + 1
            return
        self._last_adts = out.dts
        self._pending.append(out)

    def _emit(self, frame: Any, pts: int) -> RawFrame:
        """One decoded frame, at the pts the timeline gave it, with the audio that starts before
        the next frame (see ``_audio_until``)."""
        tb = self._tb
        self._last = pts
        self._decoded += 1
        self._last_wall = time.monotonic()
        assert self._picture is not None  # set by open()
        # still in the decoder's planes: converted (colour matrix, rotation, size: picture.py)
        # when a stage first asks for RGB, never when a sink writes the planes as they are
        pixels = DecodedPicture(frame, self._picture)
        return RawFrame(pixels=pixels, pts=pts, time_base=tb, audio=self._audio_until(pts + self._step))

    def _audio_until(self, end: int) -> tuple[Any, ...]:
        """The pending audio packets that start before ``end`` (video ticks: the next frame's
        time), in demux order; later ones wait for a later frame. So which audio goes with
        which frame follows the timestamps, not how far the demuxer ran ahead of a (threaded,
        reordering) decoder, and a run cut at frame N writes the audio up to frame N's end
        whatever the decoder's delay."""
        if not self._pending or not self._audio_tb:
            audio, self._pending = tuple(self._pending), []
            return audio
        limit = end * self._tb
        now: list[Any] = []
        later: list[Any] = []
        for packet in self._pending:
            start = packet.pts if packet.pts is not None else packet.dts
            (later if later or start * self._audio_tb >= limit else now).append(packet)
        self._pending = later
        return tuple(now)


def to_rgb(frame: Any) -> Any:
    """Decoded frame -> uint8 RGB array with the frame's own colour matrix and range (not
    rotated or resized); see ``streamer.io.picture``."""
    return picture.to_rgb(frame)


def _is_adts(packet: Any) -> bool:
    head = bytes(memoryview(packet)[:2]) if packet.size >= 2 else b""
    return len(head) == 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _stream_rate(stream: Any, fps: float | None) -> Fraction:
    """A raw stream's frame rate: ``capture.fps`` when given, else the codec's (the bitstream's
    timing info; the demuxer's own rate is a 25 fps guess), else the demuxer's, else 25."""
    if fps:
        return Fraction(fps).limit_denominator(1001)
    for rate in (stream.codec_context.framerate, stream.guessed_rate, stream.average_rate):
        if rate and 0 < Fraction(rate) <= 1000:
            return Fraction(rate)
    return Fraction(25)
