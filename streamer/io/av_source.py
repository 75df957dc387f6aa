"""Files and network streams through PyAV, with threaded decoding and audio passthrough.

Timestamps (what sinks and the events file see):

- Files: every frame keeps the pts and time base the demuxer gave (a 30 fps MP4 from FFmpeg:
  time base 1/15360, pts 0, 512, 1024, ...). A frame without a pts gets previous + one frame.
- A pts that does not increase (broken file, a sender that restarted without us noticing, a
  MPEG-TS clock wrap) is moved to previous + one frame, and the shift is kept for the frames
  after it (and for the audio), so pts stay strictly increasing and the deltas stay as sent.
- ``loop``: each pass is shifted so that its first frame lands one frame after the last frame
  of the pass before; video and audio are shifted by the same time.
- Reconnect (network): the new connection is shifted so that its first frame lands after the
  last frame by the wall-clock time the stream was away (at least one frame), so a recording
  keeps the gap. The time base stays that of the first connection (later ones are rescaled).

Audio packets are copied (detached from the demuxer) with the same shift applied; a packet
whose dts would not increase after a shift is dropped and counted (``audio_dropped``).
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
from streamer.io.picture import PictureConverter, converter_for
from streamer.io.source import Dropped, RawFrame, VideoSource, _one_line


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
        self._picture: PictureConverter | None = None

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
        self._audio = None
        if self.spec.audio and container.streams.audio:
            self._audio = container.streams.audio[0]

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

    def _shift_segment(self, gap: Fraction) -> None:
        """Offsets for a new connection/pass: first frame at last + max(one frame, gap)."""
        if self._last is None:
            return
        v = self._video
        start = Fraction(v.start_time * v.time_base) if v.start_time is not None else Fraction(0)
        step_s = self._step * self._tb
        target = (self._last * self._tb) + max(step_s, gap)
        shift = target - start
        self._v_off = round(shift / self._tb)
        if self._audio_tb:
            self._a_off = round(shift / self._audio_tb)

    def _disconnect(self) -> None:
        container, self._container = self._container, None
        self._video = self._audio = None
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
        while True:
            if self.stop.is_set():
                return
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as exc:
                if self.network:
                    raise Dropped(self._reason(exc)) from None
                raise SourceError(f"error reading {self.spec.uri}: {_one_line(exc)}") from None
            if packet.stream_index != video.index:
                self._take_audio(packet)
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                self.counters["decode_errors"] = self.counters.get("decode_errors", 0) + 1
                continue
            for frame in decoded:
                yield self._emit(frame)
        if self.network and not container.duration:
            # a live stream has no natural end: the sender stopped
            raise Dropped("end of stream")
        self._trailing = tuple(self._pending)

    def _reason(self, exc: BaseException) -> str:
        """One line for a network failure; PyAV's timeout shows as 'Immediate exit requested'."""
        import av

        if isinstance(exc, av.error.ExitError):
            return f"no data for {self.spec.timeout:g} s"
        return _one_line(exc)

    def _take_audio(self, packet: Any) -> None:
        if packet.dts is None or packet.size == 0:
            return
        out = copy_packet(packet, offset=self._a_off)
        if self._last_adts is not None and out.dts <= self._last_adts:
            self.counters["audio_dropped"] = self.counters.get("audio_dropped", 0) + 1
            return
        self._last_adts = out.dts
        self._pending.append(out)

    def _emit(self, frame: Any) -> RawFrame:
        tb = self._tb
        if frame.pts is None:
            pts = 0 if self._last is None else self._last + self._step
        elif frame.time_base is not None and Fraction(frame.time_base) != tb:
            pts = round(frame.pts * Fraction(frame.time_base) / tb) + self._v_off
        else:
            pts = frame.pts + self._v_off
        if self._last is not None and pts <= self._last:
            bump = self._last + self._step - pts
            self._v_off += bump
            if self._audio_tb:
                self._a_off += round(bump * tb / self._audio_tb)
            pts += bump
        self._last = pts
        self._last_wall = time.monotonic()
        assert self._picture is not None  # set by open()
        image = self._picture.convert(frame)  # colour matrix, rotation, size: picture.py
        audio, self._pending = tuple(self._pending), []
        return RawFrame(image=image, pts=pts, time_base=tb, audio=audio)


def to_rgb(frame: Any) -> Any:
    """Decoded frame -> uint8 RGB array with the frame's own colour matrix and range (not
    rotated or resized); see ``streamer.io.picture``."""
    return picture.to_rgb(frame)
