"""Audio passthrough: a detached copy of the source's audio stream and of its packets.

Sinks copy audio without re-encoding, so they need the source's codec parameters (to create
the output stream) and its packets. Neither may point into the source's demuxer: the source
closes (or reconnects, or loops) on its own thread, possibly before a sink has written its
first frame, and with fan-out two sinks mux the same packets (muxing rewrites a packet's
timestamps in place). So the codec parameters are copied into a stream of a never-written
in-memory container (``AudioHandle.template``) and every packet is copied before it leaves
the source and again before it is muxed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True, eq=False)
class AudioHandle:
    """The opaque ``StreamInfo.audio``: what a sink needs to copy the source's audio."""

    template: Any  # an av stream holding a copy of the codec parameters
    codec: str
    time_base: Fraction
    _holder: Any = None  # the in-memory container that owns ``template``

    @classmethod
    def from_stream(cls, stream: Any) -> AudioHandle | None:
        """Copy an input audio stream's parameters; None when no container can hold them."""
        import av

        for fmt in ("matroska", "nut"):
            try:
                holder = av.open(io.BytesIO(), "w", format=fmt)
                template = holder.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError):
                continue
            name = stream.codec_context.name if stream.codec_context else str(stream.codec)
            return cls(
                template=template,
                codec=name,
                time_base=Fraction(stream.time_base),
                _holder=holder,
            )
        return None


def copy_packet(packet: Any, *, offset: int = 0) -> Any:
    """A new packet with the same bytes and timestamps (+ ``offset`` ticks), no stream."""
    import av

    out = av.Packet(bytes(packet))
    out.time_base = packet.time_base
    out.pts = None if packet.pts is None else packet.pts + offset
    out.dts = None if packet.dts is None else packet.dts + offset
    out.duration = packet.duration
    out.is_keyframe = packet.is_keyframe
    return out
