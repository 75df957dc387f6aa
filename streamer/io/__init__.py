"""The one place that talks to PyAV and OpenCV capture: video sources and the video writer.

``open_source(SourceSpec(...))`` builds a reader for any capture URI (file, network URL,
camera, image folder/glob, ``testsrc``); ``VideoWriter`` encodes frames to a file or URL with
audio passthrough. Importing this package does not import PyAV or OpenCV.
"""

from streamer.io.source import Dropped, RawFrame, SourceSpec, VideoSource, open_source
from streamer.io.uri import classify
from streamer.io.writer import VideoWriter, parse_bitrate

__all__ = [
    "Dropped",
    "RawFrame",
    "SourceSpec",
    "VideoSource",
    "VideoWriter",
    "classify",
    "open_source",
    "parse_bitrate",
]
