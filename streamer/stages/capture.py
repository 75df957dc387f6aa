"""``capture``: the graph's source of frames, from any URI::

    - name: cam
      type: capture
      uri: 0                     # camera index or /dev/video0 (OpenCV; width/height/fps)
    # uri: samples/one_face.mp4  # a file (PyAV, threaded decoding, audio passed on)
    # uri: udp://127.0.0.1:5000  # udp/rtsp/http(s)/srt stream, reconnects when it drops
    # uri: frames/*.png          # an image folder or glob, played at fps
    # uri: testsrc               # moving box + frame counter; set frames: N to end it

Pictures reach the stages upright (a file's display matrix is applied to the pixels), in
square pixels (an anamorphic source is widened to its display shape) and converted from YUV with
the stream's own colour matrix and range (see ``streamer.io.picture``). On a file or stream
``width``/``height`` bound the size and keep the aspect; ``fit`` chooses otherwise::

    width: 1280
    height: 720
    fit: contain   # default: a 176x144 clip -> 880x720; pad: letterbox to exactly 1280x720;
                   # crop: fill 1280x720, centre-cropped; stretch: exactly 1280x720, distorted

Cameras are asked for ``width``/``height`` and deliver the mode they negotiate (``fit`` does not
apply); testsrc is made at that size; images are fitted like files.

Files keep the demuxer's pts and time base, repaired where the container gets them wrong and
counted (``pts_reordered``, ``pts_from_rate``, ...; see ``streamer.io.timestamps``); a file
that ends before its index promised warns (``--strict``: error); cameras count wall-clock ms;
images and testsrc count frames at ``fps``. After a loop or a reconnect pts keep increasing
(see ``streamer.io.av_source``). The runner applies ``--max-frames`` and ``--realtime``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from streamer.frame import Frame
from streamer.stages.base import Mode, Source, StageParams, register


@register("capture")
class Capture(Source):
    """Reads frames (and audio packets) from a camera, file, network stream, images or testsrc."""

    class Params(StageParams):
        uri: int | str
        """Camera index or /dev/videoN, a video file, an image folder or glob, an rtsp/udp/
        http(s)/srt URL, or ``testsrc``."""
        width: int | None = Field(default=None, ge=2, le=16384)
        """Camera: requested width. Files, streams, images: the size bound (see ``fit``);
        testsrc: its width."""
        height: int | None = Field(default=None, ge=2, le=16384)
        """As width; with only one of them set the other keeps the aspect (even)."""
        fit: Literal["contain", "pad", "crop", "stretch"] = "contain"
        """How a file, stream or image meets width x height: ``contain`` (inside, aspect kept,
        even sides), ``pad`` (contain + black bars to exactly that size), ``crop`` (fill and
        centre-crop), ``stretch`` (exactly that size, aspect not kept). Needs both sizes unless
        ``contain``."""
        fps: float | None = Field(default=None, gt=0, le=1000)
        """Frame rate requested from a camera; rate of testsrc and images (default 30); for a
        raw stream without timestamps (.h264, .hevc, .m4v) the rate its frames are numbered at
        (default: the codec's own)."""
        frames: int | None = Field(default=None, ge=1)
        """Stop after this many frames (testsrc is otherwise endless)."""
        loop: bool = False
        """Files and images: start again at the end; pts keep increasing."""
        audio: bool = True
        """Pass the source's audio packets on (for encode's audio: copy)."""
        threads: int = Field(default=0, ge=0, le=64)
        """Decoder threads; 0 = automatic (frame and slice threading)."""
        decoder: Literal["cpu", "auto", "cuvid"] = "cpu"
        """Video files and streams: ``cpu`` (FFmpeg's software decoder), ``cuvid`` (NVIDIA's
        NVDEC for H.264 and HEVC; one-line error where it cannot work) or ``auto`` (NVDEC when
        it opens, else software). On an H200 machine with 16 cores, 1080p H.264 decoded at 587
        frames/s with NVDEC against 702 with FFmpeg's threads: NVDEC pays off where CPU cores
        are scarce, not by default."""
        reconnect: int = Field(default=-1, ge=-1)
        """Network/camera: reconnect attempts after a drop; -1 = forever, 0 = end the stream."""
        reconnect_delay: float = Field(default=0.5, ge=0)
        """Seconds before the first reconnect attempt; doubles after each failure."""
        reconnect_max_delay: float = Field(default=10.0, ge=0)
        """Upper bound of the reconnect delay in seconds."""
        timeout: float = Field(default=5.0, gt=0)
        """Network: seconds to wait when opening or for the next packet before a drop."""

        @field_validator("fit")
        @classmethod
        def _fit_needs_both_sides(cls, value: str, info: ValidationInfo) -> str:
            if value != "contain" and not (info.data.get("width") and info.data.get("height")):
                raise ValueError(f"{value} needs both width and height (or use fit: contain)")
            return value

        @model_validator(mode="after")
        def _cuvid_needs_a_video_stream(self) -> Capture.Params:
            if self.decoder == "cuvid":
                from streamer.io.uri import classify

                kind = classify(self.uri)
                if kind not in ("file", "network"):
                    raise ValueError(
                        f"decoder: cuvid decodes video files and streams, not {kind}; use cpu or auto"
                    )
            return self

    @classmethod
    def default_mode(cls, params: StageParams) -> Mode:
        from streamer.io.uri import classify

        assert isinstance(params, Capture.Params)
        return "live" if classify(params.uri) in ("camera", "network") else "offline"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._source: Any = None
        self._info: Any = None
        self._trailing: tuple[Any, ...] = ()
        self.warnings: list[str] = []

    def open(self) -> None:
        """Open the file, camera or stream; SourceError (one line) when it cannot."""
        from streamer.io import SourceSpec, classify, open_source

        p = self.params
        assert isinstance(p, Capture.Params)
        uri: int | str = p.uri
        if isinstance(uri, str) and classify(uri) in ("file", "images") and "://" not in uri:
            if not any(c in uri for c in "*?["):
                uri = str(self.ctx.resolve(uri))
        spec = SourceSpec(
            uri=uri,
            width=p.width,
            height=p.height,
            fit=p.fit,
            fps=p.fps,
            loop=p.loop,
            audio=p.audio,
            threads=p.threads,
            decoder=p.decoder,
            reconnect=p.reconnect,
            reconnect_delay=p.reconnect_delay,
            reconnect_max_delay=p.reconnect_max_delay,
            timeout=p.timeout,
            name=self.name,
        )
        self._source = open_source(spec, stop=self.ctx.stop, log=self.log, counters=self.counters)
        # warnings of the source (an input that ended early) for the end of the run
        self.warnings = getattr(self._source, "warnings", self.warnings)
        self._source.open()
        info = self._source.info
        if p.frames is not None and (info.frame_count is None or info.frame_count > p.frames):
            info = dataclasses.replace(info, frame_count=p.frames)
        self._info = info
        self.stream_info = info

    def frames(self) -> Generator[Frame, None, None]:
        """Frames with index 0, 1, 2, ... until the end, ``frames``, or a stop."""
        p = self.params
        assert isinstance(p, Capture.Params)
        if self._source is None:
            raise RuntimeError("Capture.frames() called before open()")
        index = 0
        for raw in self._source.frames():
            yield Frame(
                image=raw.pixels,
                index=index,
                pts=raw.pts,
                time_base=raw.time_base,
                stream=self._info,
                audio=raw.audio,
            )
            index += 1
            if (p.frames is not None and index >= p.frames) or self.ctx.stop.is_set():
                return

    def trailing_audio(self) -> tuple[Any, ...]:
        """Audio demuxed after the last frame (only after a natural end of the source)."""
        return self._source.trailing_audio() if self._source is not None else self._trailing

    def close(self) -> None:
        """Release the file, camera or connection; safe after a failed open, and twice."""
        source, self._source = self._source, None
        if source is not None:
            self._trailing = source.trailing_audio()
            source.close()
