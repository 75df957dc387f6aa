"""``encode``: write frames to a video file or a network URL with PyAV::

    - name: out
      type: encode
      path: out/result.mp4       # .mp4 .mkv .mov .ts .webm ...; or udp://127.0.0.1:5000
      crf: 20                    # or bitrate: 4M
      audio: copy                # source audio remuxed untouched and in sync; or drop
      fragmented: true           # fragmented MP4, playable after kill -9 (default: live only)

Output pts are the frames' pts in the source time base, so a file round trip keeps every
timestamp (MP4 exactly; Matroska rounds to milliseconds). The output size is the first frame's;
later frames of another size are scaled to it. ``close()`` finalises the file, also after a
stop (Ctrl-C): it plays and holds every frame written so far. Files are written as
``x.partial.mp4`` and renamed to ``x.mp4`` when finalised; a failed run leaves the partial file.
A path another writer holds, or one a stage reads, is refused. See ``streamer.io.writer`` and
``streamer.io.output_file``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from streamer.frame import Frame
from streamer.stages.base import Sink, StageParams, register


@register("encode")
class Encode(Sink):
    """Encodes frames (H.264 by default) into a file or stream, copying the source's audio."""

    input_policy = "block"  # a recording: every frame that reaches it is written

    class Params(StageParams):
        path: str
        """Output file (parent folders are made) or URL (udp://, srt://, rtsp://, rtmp://)."""
        codec: str = "auto"
        """Video encoder: auto = h264_nvenc when it opens here, else libx264; or any FFmpeg
        encoder name."""
        crf: int | None = Field(default=None, ge=0, le=63)
        """Constant quality (lower is better; x264 default 23); cq for nvenc."""
        preset: str | None = None
        """Encoder preset (x264 names; mapped to p1..p7 for nvenc); live default veryfast."""
        bitrate: str | int | None = None
        """Target bit rate, e.g. 4M or 800k (instead of crf)."""
        audio: Literal["copy", "drop"] = "copy"
        """copy: remux the source's audio packets without re-encoding; drop: video only."""
        format: str | None = None
        """Container format; default from the extension, mpegts for udp:// and srt://."""
        pix_fmt: str = "yuv420p"
        """Encoded pixel format (yuv420p plays everywhere)."""
        overwrite: bool = True
        """Replace an existing file; false makes an existing file an error."""
        threads: int = Field(default=0, ge=0, le=64)
        """Encoder threads; 0 = the encoder's choice (all cores). 1 leaves cores to other stages."""
        fragmented: bool | None = None
        """MP4/MOV: write fragments (at least every second, flushed) so a killed run leaves a
        playable file; default true in live mode, false offline (a plain MP4 seeks better)."""

        @field_validator("bitrate")
        @classmethod
        def _bitrate(cls, value: str | int | None) -> str | int | None:
            from streamer.io.writer import parse_bitrate

            parse_bitrate(value)
            return value

    @classmethod
    def output_paths(cls, params: StageParams) -> list[tuple[str, str, bool]]:
        """The output file (URLs are not files)."""
        from streamer.io.uri import is_url

        assert isinstance(params, Encode.Params)
        return [] if is_url(params.path) else [("path", params.path, False)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: Any = None

    def open(self) -> None:
        """Check the path, container and encoder; the file is created on the first frame."""
        from streamer.io import VideoWriter

        p = self.params
        assert isinstance(p, Encode.Params)
        # output paths are relative to the working directory, like every CLI tool's
        self._writer = VideoWriter(
            p.path,
            codec=p.codec,
            crf=p.crf,
            preset=p.preset,
            bitrate=p.bitrate,
            audio=p.audio == "copy",
            format=p.format,
            pix_fmt=p.pix_fmt,
            overwrite=p.overwrite,
            threads=p.threads,
            live=self.ctx.mode == "live",
            fragmented=p.fragmented,
            log=self.log,
            what=f"stage '{self.name}' (encode): key 'path'",
        )
        self._writer.counters = self.counters
        self._writer.open()

    def write(self, frame: Frame) -> None:
        """Encode the frame at its pts and mux the audio packets that came with it. The frame's
        pixels go as the frame holds them: decoded planes that need no conversion are written
        as they are (a transcode never converts to RGB), an RGB picture is converted."""
        if self._writer is None:
            raise RuntimeError("Encode.write() called before open()")
        self._writer.write(
            frame.pixels,
            frame.pts,
            frame.time_base,
            rate=frame.stream.rate,
            audio_handle=frame.stream.audio,
            audio_packets=frame.audio,
        )

    def write_trailing_audio(self, packets: tuple[Any, ...]) -> None:
        """Audio after the last frame (natural end of the source)."""
        if self._writer is not None:
            self._writer.write_audio(packets)

    def close(self) -> None:
        """Flush and finalise the output; safe with no frames, after errors, and twice. The
        final name is given only when no stage failed (else the partial file stays)."""
        writer = self._writer
        if writer is not None:
            writer.close(complete=not self.ctx.failed.is_set())
