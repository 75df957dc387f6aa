"""VideoWriter: encode RGB frames with PyAV into a file (mp4, mkv, ...) or a network URL,
copying the source's audio packets without re-encoding.

Timestamps: the output video stream takes the time base of the first frame, and every frame
keeps its pts (a later frame in another time base is rescaled). The muxer may change the
stream time base when the header is written; MP4/MOV keep a 1/N time base with N >= 10000
(so the 1/15360 of an FFmpeg-made 30 fps MP4 round-trips exactly, and 1/30 becomes 1/15360,
still exact), Matroska always uses 1/1000 and MPEG-TS 1/90000 (rounded there). A pts that
does not increase is moved to previous + 1 tick and counted (``pts_fixed``): encoders refuse
it otherwise.

Pixels: a frame that still holds its decoder's planes (``DecodedPicture``: no stage changed or
asked to change its pixels) in the stream's pixel format and size, upright and square, is
encoded as it is: no YUV -> RGB -> YUV round trip, only its pts re-stamped and its picture type
cleared (libx264 would otherwise copy the source's I/P/B decisions). The stream is then tagged
with the source's colour (matrix, range, primaries, transfer; an untagged source with the
matrix it was decoded with), and any RGB frame in the same stream is converted with that
matrix, so one file never mixes two. Otherwise (an RGB picture from a stage, a rotated,
anamorphic or fitted source, another pixel format) the RGB is converted as before.

Sizes: the output size is the first frame's (rounded down to even for 4:2:0); a later frame of
another size is scaled to it (logged once), so a graph that changes size mid-stream still
yields a valid file.

Files (DESIGN 3.4b, ``streamer.io.output_file``): ``open()`` takes the path's lock (a second
writer is refused); frames go to ``x.partial.mp4`` beside ``x.mp4``, which ``close()`` finalises
(flush the encoder, write the trailer) and renames to ``x.mp4``; after a stop the file holds every
frame written so far. After a failure (``close(complete=False)``, or this writer's own error)
the partial file stays, the final name is untouched, and the log says where it is. Nothing is
created before the first frame; a partial file that got no frame is removed.

Fragmented MP4 (``fragmented``; default on in live mode): ``movflags=frag_keyframe+delay_moov+
default_base_moof`` with a fragment at least every second and a keyframe every 2 s, each packet
flushed to the file as it is muxed (``flush_packets``), so after ``kill -9`` the partial file
plays every frame up to the last fragment (about a second back). ``delay_moov`` rather than
``empty_moov``: the index is written with the first fragment, so it carries the edit list that
keeps pts exact when the encoder uses B-frames (``empty_moov`` shifts them by the reorder
delay). Offline the default is a plain MP4 with its index (``moov``) at the end: smaller, and
every player seeks in it. Matroska and MPEG-TS are written progressively anyway; for them
``fragmented`` only flushes each packet.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from streamer.errors import SinkError
from streamer.frame import Planes
from streamer.io.audio import AudioHandle, copy_packet
from streamer.io.output_file import OutputFile
from streamer.io.picture import Colour, DecodedPicture, output_colour, rgb_to_i420
from streamer.io.uri import is_url, output_format

_NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
}
_nvenc_ok: dict[str, bool] = {}
# fragmented MP4: a self-contained fragment (moof + mdat) at every keyframe and at least every
# FRAGMENT_US microseconds, so a killed run loses at most about that much
FRAGMENT_US = 1_000_000
_MP4_FORMATS = frozenset({"mp4", "mov", "ipod", "ismv", "3gp"})
_UNSPECIFIED = (0, 2)  # AVCOL_*: reserved / unspecified, not a tag to copy
_PICT_NONE = 0  # AV_PICTURE_TYPE_NONE: let the encoder choose the frame type


def parse_bitrate(value: str | int | None) -> int | None:
    """``4M`` -> 4000000, ``500k`` -> 500000, ints as bits per second."""
    if value is None or isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*", str(value))
    if not m:
        raise ValueError(f"expected a bit rate like 4M, 800k or 2000000, got {value!r}")
    scale = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def encoder_opens(codec: str) -> bool:
    """True when ``codec`` can really open here (h264_nvenc needs a driver and a free session)."""
    if codec not in _nvenc_ok:
        import av

        try:
            ctx: Any = av.CodecContext.create(codec, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
            ctx.time_base = Fraction(1, 30)
            ctx.framerate = Fraction(30)
            ctx.open()
            _nvenc_ok[codec] = True
        except Exception:  # noqa: BLE001 - any failure means "not usable here"
            _nvenc_ok[codec] = False
    return _nvenc_ok[codec]


class VideoWriter:
    """Encodes frames into ``path`` (file or URL); see the module doc for timestamps."""

    def __init__(
        self,
        path: str,
        *,
        codec: str = "auto",
        crf: int | None = None,
        preset: str | None = None,
        bitrate: str | int | None = None,
        audio: bool = True,
        format: str | None = None,
        pix_fmt: str = "yuv420p",
        overwrite: bool = True,
        threads: int = 0,
        live: bool = False,
        fragmented: bool | None = None,
        log: Callable[[str], None] = lambda message: None,
        what: str = "output",
    ) -> None:
        self.path = path
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.bit_rate = parse_bitrate(bitrate)
        self.copy_audio = audio
        self.format = format
        self.pix_fmt = pix_fmt
        self.overwrite = overwrite
        self.threads = threads
        self.live = live
        self.fragmented = live if fragmented is None else fragmented
        self.log = log
        self.what = what
        self.counters: dict[str, int] = {}
        self.frames_written = 0
        self._lock = threading.Lock()
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._tb = Fraction(1, 1)
        self._size = (0, 0)
        self._colour = Colour()  # what the stream is tagged as; RGB frames are converted with it
        self._tags: dict[str, int] = {}
        self.frames_passed = 0  # frames written from the decoder's planes (no conversion)
        self._last_pts: int | None = None
        self._last_audio: Fraction | None = None
        self._resize_logged = False
        self._closed = False
        self._is_file = not is_url(path)
        self._target = path
        self._out: OutputFile | None = None  # files: lock, partial name, final rename
        self._failed = False  # this writer raised: keep the partial file

    # -- setup -----------------------------------------------------------------------------

    def open(self) -> None:
        """Check path, container and encoder before any frame; nothing is created yet."""
        import av

        fmt = output_format(self.path, self.format)
        if fmt is None:
            raise SinkError(
                f"cannot tell the container of {self.path}; expected a .mp4/.mkv/.mov/.ts/"
                ".webm/.avi path, a udp:// srt:// rtsp:// rtmp:// URL, or set format"
            )
        try:
            if not av.format.ContainerFormat(fmt).is_output:
                raise ValueError
        except ValueError:
            raise SinkError(f"unknown output format {fmt!r}; expected e.g. mp4, matroska, mpegts") from None
        self.format = fmt
        if self._is_file:
            target = Path(self.path[len("file://") :] if self.path.startswith("file://") else self.path)
            target = target.expanduser()
            if target.is_dir():
                raise SinkError(f"output {target} is a folder; expected a file path like out.mp4")
            if target.exists() and not self.overwrite:
                raise SinkError(f"output {target} exists; remove it or set overwrite: true")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SinkError(f"cannot create folder {target.parent}: {exc.strerror or exc}") from None
            if not target.parent.is_dir():
                raise SinkError(f"cannot write {target}: {target.parent} is not a folder")
        self.codec = self._pick_codec()
        if self._is_file:
            out = OutputFile(target, what=self.what, overwrite=self.overwrite)
            out.acquire()  # last: nothing above can fail while we hold the lock
            self._out = out
            self._target = str(out.partial)
            if note := out.left_over():
                self.log(note)

    def _pick_codec(self) -> str:
        import av

        if self.codec == "auto":
            chosen = "h264_nvenc" if encoder_opens("h264_nvenc") else "libx264"
        else:
            chosen = self.codec
        try:
            av.Codec(chosen, "w")
        except Exception:  # noqa: BLE001 - unknown codec name or a decoder-only codec
            raise SinkError(f"unknown video encoder {chosen!r}; expected e.g. libx264, h264_nvenc") from None
        from streamer.io.hwcodec import check_encoder  # NVENC that cannot open: one line, before any file

        check_encoder(chosen)
        return chosen

    def _options(self, rate: Fraction) -> dict[str, str]:
        opts: dict[str, str] = {}
        nvenc = self.codec.endswith("_nvenc")
        if self.crf is not None:
            if nvenc:
                opts.update(rc="vbr", cq=str(self.crf))
            else:
                opts["crf"] = str(self.crf)
        preset = self.preset or ("veryfast" if self.live else None)
        if preset:
            opts["preset"] = _NVENC_PRESETS.get(preset, preset) if nvenc else preset
        if self.live:
            if self.codec in ("libx264", "libx265"):
                opts["tune"] = "zerolatency"
            elif nvenc:
                opts["tune"] = "ll"
        return opts

    def _container_options(self) -> dict[str, str]:
        """Muxer options: fragmented MP4 and per-packet flushing (see the module doc)."""
        if not (self.fragmented and self._is_file):
            return {}
        opts = {"flush_packets": "1"}  # each packet reaches the file, not a buffer in the process
        if self.format in _MP4_FORMATS:
            opts["movflags"] = "frag_keyframe+delay_moov+default_base_moof"
            opts["frag_duration"] = str(FRAGMENT_US)
        return opts

    def _stream_colour(self, pixels: np.ndarray | Planes, size: tuple[int, int]) -> None:
        """Choose the stream's colour from its first frame: the source's own when its planes
        can be written as they are (tags copied where the source gives them), else
        :func:`output_colour` (BT.709 for HD sizes, BT.601 otherwise)."""
        colour = output_colour(*size, self.pix_fmt)
        tags = colour.tags()
        if isinstance(pixels, DecodedPicture) and pixels.passthrough(self.pix_fmt, size) is not None:
            source = pixels.colour()
            if source.matrix in ("bt601", "bt709", "bt2020"):  # what rgb_to_i420 converts with
                colour, tags = source, source.tags()
                frame = pixels.frame
                for key in ("colorspace", "color_primaries", "color_trc"):
                    value = int(getattr(frame, key, 2) or 2)
                    if value not in _UNSPECIFIED:
                        tags[key] = value
        self._colour, self._tags = colour, tags

    def _start(
        self,
        pixels: np.ndarray | Planes,
        time_base: Fraction,
        rate: Fraction | None,
        audio: AudioHandle | None,
    ) -> None:
        import av

        width, height = _size_of(pixels)
        if self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422", "yuvj422")):
            width, height = max(2, width - width % 2), max(2, height - height % 2)
        self._stream_colour(pixels, (width, height))
        rate = Fraction(rate) if rate else Fraction(30)
        try:
            container = av.open(self._target, "w", format=self.format, options=self._container_options())
        except Exception as exc:  # noqa: BLE001 - PyAV raises OSError subclasses and ValueError
            self._failed = True
            raise SinkError(f"cannot open output {self.path}: {_one_line(exc)}") from None
        self._container = container
        try:
            stream: Any = container.add_stream(self.codec, rate=rate, options=self._options(rate))
            stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            if self.bit_rate:
                stream.bit_rate = self.bit_rate
            if self.threads:
                stream.codec_context.thread_count = self.threads
            if not self.live:
                # FFmpeg's own default (frame and slice threads): PyAV defaults to slice threads,
                # which makes libx264 cut every frame into slices, costing speed and quality.
                # Live keeps slices: one frame of latency per frame thread is what live avoids.
                stream.codec_context.thread_type = "AUTO"
            if self.live or not self._is_file or self.fragmented:
                stream.codec_context.gop_size = max(1, round(2 * rate))
            for key, value in self._tags.items():
                setattr(stream.codec_context, key, value)  # what _to_video_frame converts with
        except Exception as exc:  # noqa: BLE001
            self._failed = True
            raise SinkError(f"cannot set up encoder {self.codec} for {self.path}: {_one_line(exc)}") from None
        self._video = stream
        self._tb = time_base
        self._size = (width, height)
        if audio is not None and self.copy_audio:
            try:
                self._audio = container.add_stream_from_template(audio.template)
            except (ValueError, av.FFmpegError) as exc:
                self.log(f"audio ({audio.codec}) not copied: {_one_line(exc)}")
        self.log(
            f"writing {self.path}"
            + (f" (as {self._out.shown} until finalised)" if self._out is not None else "")
            + f": {self.codec} {width}x{height}"
            + (f" + {audio.codec} audio copy" if self._audio is not None and audio else "")
            + (", fragmented" if self.fragmented and self.format in _MP4_FORMATS and self._is_file else "")
        )

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        image: np.ndarray | Planes,
        pts: int,
        time_base: Fraction,
        *,
        rate: Fraction | None = None,
        audio_handle: AudioHandle | None = None,
        audio_packets: Iterable[Any] = (),
    ) -> None:
        """Encode one frame at ``pts`` (in ``time_base``) and mux its audio packets.

        ``image`` is an RGB array or a frame's planes (``Frame.pixels``): planes the stream can
        take as they are are written without any conversion (see the module doc)."""

        with self._lock:
            if self._closed:
                raise SinkError(f"{self.path}: write after close")
            if self._container is None:
                self._start(image, Fraction(time_base), rate, audio_handle)
            self._mux_audio(audio_packets)
            tb = Fraction(time_base)
            out_pts = pts if tb == self._tb else round(pts * tb / self._tb)
            if self._last_pts is not None and out_pts <= self._last_pts:
                out_pts = self._last_pts + 1
                self.counters["pts_fixed"] = self.counters.get("pts_fixed", 0) + 1
            decoded = self._passthrough(image)
            if decoded is not None:
                assert isinstance(image, DecodedPicture)
                with image.lock():  # another encoder fed by the same frame stamps it too
                    decoded.pts = out_pts
                    decoded.time_base = self._tb
                    decoded.pict_type = _PICT_NONE
                    self._encode(decoded)
                self.frames_passed += 1
            else:
                self._encode(self._converted(image), out_pts)
            self._last_pts = out_pts
            self.frames_written += 1

    def _passthrough(self, pixels: np.ndarray | Planes) -> Any | None:
        """The decoded frame to write as it is, or None when it needs converting (an RGB
        picture, other geometry or pixel format, or a colour the stream is not tagged with)."""
        if not isinstance(pixels, DecodedPicture):
            return None
        frame = pixels.passthrough(self.pix_fmt, self._size)
        if frame is None:
            return None
        colour = pixels.colour()
        same = (colour.matrix, colour.full_range) == (self._colour.matrix, self._colour.full_range)
        return frame if same else None

    def _converted(self, pixels: np.ndarray | Planes) -> Any:
        """RGB (or planes converted to RGB) -> a VideoFrame of the stream's format and size."""
        image = pixels if isinstance(pixels, np.ndarray) else pixels.rgb()
        w, h = self._size
        frame = _to_video_frame(image, self._video.codec_context.pix_fmt, self._colour, self._tags)
        if (frame.width, frame.height) != (w, h):
            if not self._resize_logged and (frame.width - w > 1 or frame.height - h > 1):
                self.log(f"frame size {frame.width}x{frame.height} differs; scaled to {w}x{h}")
                self._resize_logged = True
            frame = frame.reformat(width=w, height=h)
        return frame

    def _encode(self, frame: Any, pts: int | None = None) -> None:
        if pts is not None:
            frame.pts = pts
            frame.time_base = self._tb
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
        except Exception as exc:  # noqa: BLE001
            self._failed = True
            raise SinkError(f"encoding {self.path} failed: {_one_line(exc)}") from None

    def write_audio(self, packets: Iterable[Any]) -> None:
        """Mux audio packets that follow the last frame (the source's trailing audio)."""
        with self._lock:
            if self._container is not None and not self._closed:
                self._mux_audio(packets)

    def _mux_audio(self, packets: Iterable[Any]) -> None:
        if self._audio is None:
            return
        for packet in packets:
            if packet.dts is None:
                continue
            at = packet.dts * Fraction(packet.time_base)
            if self._last_audio is not None and at <= self._last_audio:
                self.counters["audio_dropped"] = self.counters.get("audio_dropped", 0) + 1
                continue
            out = copy_packet(packet)
            out.stream = self._audio
            try:
                self._container.mux(out)
            except Exception as exc:  # noqa: BLE001
                self._failed = True
                raise SinkError(f"writing audio to {self.path} failed: {_one_line(exc)}") from None
            self._last_audio = at

    def close(self, *, complete: bool = True) -> None:
        """Flush the encoder and finalise the container; idempotent, safe after errors.

        Files: renamed to the final name when ``complete`` (a natural end or a stop) and this
        writer had no error; otherwise the partial file stays and the log says where."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            container, self._container = self._container, None
            out, self._out = self._out, None
            if container is None:
                if out is not None:
                    out.release()  # never started: an older partial file is left as it was
                return
            error: str | None = None
            if self.frames_written and self._video is not None:
                try:
                    for packet in self._video.encode(None):
                        container.mux(packet)
                except Exception as exc:  # noqa: BLE001
                    error = _one_line(exc)
            try:
                container.close()
            except Exception as exc:  # noqa: BLE001
                error = error or _one_line(exc)
            if out is None:
                if error:
                    raise SinkError(f"finishing {self.path} failed: {error}")
                return
            if not self.frames_written:
                out.discard()
                return
            if error or self._failed or not complete:
                where = out.keep_partial()
                if error:
                    raise SinkError(f"finishing {self.path} failed: {error}; {where}")
                self.log(where)
                return
            out.commit()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _size_of(pixels: np.ndarray | Planes) -> tuple[int, int]:
    """(width, height) of an RGB array or of the RGB a frame's planes become."""
    if isinstance(pixels, np.ndarray):
        return int(pixels.shape[1]), int(pixels.shape[0])
    return pixels.size


def _to_video_frame(image: np.ndarray, pix_fmt: str, colour: Colour, tags: dict[str, int]) -> Any:
    """RGB array -> av.VideoFrame in the stream's pixel format, converted with ``colour`` and
    tagged with ``tags``: what ``_start`` tagged the stream with (the source's colour when its
    planes pass through, else BT.709 for HD sizes and BT.601 otherwise; see
    ``streamer.io.picture``). 4:2:0 at even sizes goes through OpenCV (5x faster than swscale
    here); other formats and odd sizes through swscale. A frame of another size than the
    stream's keeps its size here (``write`` scales it, YUV to YUV)."""
    import av

    h, w = image.shape[:2]
    if pix_fmt in ("yuv420p", "yuvj420p") and w % 2 == 0 and h % 2 == 0:
        frame = av.VideoFrame.from_ndarray(rgb_to_i420(image, colour), format=pix_fmt)
    else:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            format=pix_fmt,
            dst_colorspace=colour.sws_colorspace,
            dst_color_range=colour.sws_range,
            threads=1,
        )
    for key, value in tags.items():
        setattr(frame, key, value)
    return frame
