"""Where composed frames go: a video file (PyAV), an image file (``image``, for a photo), or nowhere (the window is ``stream.gui.window``).

Every sink is a context manager whose ``close`` always leaves its output usable. The video
file sink is split along its jobs: ``paths`` (can the file be made), ``encoder`` (which
video encoder, with which options), ``colour`` (BGR -> yuv420p), ``timeline`` (frame
timestamps -> output timestamps), ``audio`` (the source's sound), ``video`` (the sink that
wires them together). ``null`` counts and drops. A stream sent on (UDP, RTMP, SRT, standard
output, a named pipe) is ``sender``: ``targets`` reads ``--output`` text once, ``endpoint`` opens
where the bytes go, ``protocols`` says what PyAV's FFmpeg can send over.
"""

from __future__ import annotations

from typing import Protocol

from stream.core.frames import Frame
from stream.sinks.image import ImageFileSink
from stream.sinks.null import NullSink
from stream.sinks.paths import check_output_path
from stream.sinks.video import VideoFileSink


class Sink(Protocol):
    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sink: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["ImageFileSink", "NullSink", "Sink", "VideoFileSink", "check_output_path"]
