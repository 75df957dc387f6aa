"""Hardware video codecs in PyAV's FFmpeg: NVDEC decoders (``h264_cuvid``, ``hevc_cuvid``) and
NVENC encoders (``h264_nvenc``, ``hevc_nvenc``): are they built in, do they open here, and the
one-line errors when a graph asks for one that cannot work.

PyAV's wheels build these codecs in, so "built in" is not "usable": without an NVIDIA driver
and a free NVDEC/NVENC session ``avcodec_open2`` fails with a bare ``Operation not permitted``.
``status`` opens each codec once (cached) and says why it does not work, in words.

Where the hooks are:

- encode ``codec: h264_nvenc``: ``VideoWriter._pick_codec`` (``streamer/io/writer.py``) calls
  ``check_encoder`` on the codec it picked, so a named NVENC encoder that cannot open is one
  line before any file is created; ``codec: auto`` already takes NVENC only when it opens.
- capture ``decoder: auto | cpu | cuvid`` (not a capture parameter yet): ``choose_decoder`` turns
  the choice and the stream's codec into a decoder name (None: FFmpeg's own software decoder)
  or a one-line error, and ``open_decoder`` opens that decoder for the stream. The hook goes in
  ``AvSource._open_container`` (``streamer/io/av_source.py``) after the video stream is found:
  ``self._decoder = open_decoder(self._video, name)``, with ``_read`` then sending packets to
  ``self._decoder.decode(packet)`` instead of ``packet.decode()``. That restructures the source's
  read loop, which belongs to the planes work; ``tests/unit/io/test_hwcodec.py`` proves the
  ``open_decoder`` path on the software decoder (same frames as PyAV's own decoding).

Example::

    choose_decoder("auto", "h264")   # "h264_cuvid" on a GPU machine, None elsewhere
    choose_decoder("cuvid", "h264")  # SourceError on a machine without NVDEC, one line
    check_encoder("h264_nvenc")      # SinkError without NVENC, one line; None when it opens
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from streamer.errors import SinkError, SourceError

DecoderChoice = Literal["auto", "cpu", "cuvid"]
#: the stream codec -> its NVDEC decoder
HW_DECODERS = {"h264": "h264_cuvid", "hevc": "hevc_cuvid"}
HW_ENCODERS = ("h264_nvenc", "hevc_nvenc")


@dataclass(frozen=True)
class CodecStatus:
    """One codec: built into PyAV's FFmpeg, opens here, and why not (one line) when it does not."""

    name: str
    mode: Literal["r", "w"]
    built: bool
    opens: bool
    why: str | None = None

    def line(self) -> str:
        kind = "decoder" if self.mode == "r" else "encoder"
        return f"{self.name} ({kind}): " + ("opens" if self.opens else f"not usable: {self.why}")


def _driver_problem() -> str | None:
    from streamer.onnx.providers import driver_problem

    return driver_problem()


@functools.cache
def status(name: str, mode: Literal["r", "w"]) -> CodecStatus:
    """Whether codec ``name`` (``mode`` r: decoder, w: encoder) is built in and opens here."""
    import av

    if name not in av.codecs_available:
        return CodecStatus(name, mode, False, False, f"this FFmpeg (PyAV {av.__version__}) has no {name}")
    try:
        ctx: Any = av.CodecContext.create(name, mode)
        if mode == "w":
            ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
            ctx.time_base = Fraction(1, 30)
            ctx.framerate = Fraction(30)
        ctx.open()
        return CodecStatus(name, mode, True, True)
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types; all mean "does not open"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        why = _driver_problem() or _no_engine(name) or f"it does not open ({detail[:120]})"
        return CodecStatus(name, mode, True, False, why)


#: data-centre GPUs built without an NVENC engine (NVIDIA's video encode/decode support matrix):
#: FFmpeg's NVENC encoders cannot open on them, whatever the driver; NVDEC works
NO_NVENC = ("A100", "A30", "A800", "H100", "H200", "H800", "H20")


def gpu_names() -> list[str]:
    """The NVIDIA GPUs' model names (the driver's /proc files, else nvidia-smi); [] without."""
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names or nvidia_smi("name")


def nvidia_smi(query: str) -> list[str]:
    """``nvidia-smi --query-gpu=QUERY --format=csv,noheader``: a line per GPU; [] without it."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [n.strip() for n in out.stdout.splitlines() if n.strip()] if out.returncode == 0 else []


def _no_engine(name: str) -> str | None:
    """Why ``name`` cannot open on this machine's GPU when the GPU has no engine for it."""
    if not name.endswith("_nvenc"):
        return None
    for gpu in gpu_names():
        if any(re.search(rf"\b{model}\b", gpu) for model in NO_NVENC):
            return (
                f"this GPU ({gpu}) has no NVENC encoder "
                "(data-centre GPUs such as the A100, H100 and H200 have none)"
            )
    return None


def probe() -> list[CodecStatus]:
    """The NVDEC decoders and NVENC encoders streamer uses, each opened once."""
    return [status(n, "r") for n in HW_DECODERS.values()] + [status(n, "w") for n in HW_ENCODERS]


def choose_decoder(choice: DecoderChoice, codec: str, *, key: str = "decoder") -> str | None:
    """The decoder to open for a stream of ``codec`` (``h264``, ``hevc``, ...): an NVDEC name, or
    None for FFmpeg's software decoder. ``auto`` takes NVDEC when it opens, ``cpu`` never,
    ``cuvid`` insists and raises a one-line SourceError when it cannot work."""
    if choice == "cpu":
        return None
    hw = HW_DECODERS.get(codec)
    if choice == "auto":
        return hw if hw is not None and status(hw, "r").opens else None
    if choice != "cuvid":
        raise SourceError(f"{key}: expected auto, cpu or cuvid, got {choice!r}")
    if hw is None:
        raise SourceError(
            f"{key}: cuvid decodes {' and '.join(HW_DECODERS)}, this stream is {codec}; use auto or cpu"
        )
    st = status(hw, "r")
    if not st.opens:
        raise SourceError(f"{key}: cuvid asked for, but {hw} cannot be used: {st.why}; use auto or cpu")
    return hw


def check_encoder(codec: str, *, key: str = "codec") -> None:
    """A one-line SinkError when ``codec`` is a hardware encoder (``*_nvenc``) that cannot be
    used here; nothing for software encoders (the writer reports those)."""
    if not codec.endswith("_nvenc"):
        return
    st = status(codec, "w")
    if not st.opens:
        raise SinkError(
            f"{key}: {codec} cannot be used: {st.why}; use codec: auto (NVENC when it opens, else "
            "libx264) or libx264"
        )


def open_decoder(stream: Any, name: str) -> Any:
    """An opened decoder ``name`` for PyAV video ``stream`` (its extradata and size copied), to
    which the source sends the stream's packets (``ctx.decode(packet)``) instead of
    ``packet.decode()``."""
    import av

    src = stream.codec_context
    ctx: Any = av.CodecContext.create(name, "r")
    if src.extradata:
        ctx.extradata = src.extradata
    ctx.width, ctx.height = src.width, src.height
    ctx.open()
    return ctx


__all__ = [
    "HW_DECODERS",
    "HW_ENCODERS",
    "CodecStatus",
    "DecoderChoice",
    "check_encoder",
    "choose_decoder",
    "open_decoder",
    "nvidia_smi",
    "probe",
    "status",
]
