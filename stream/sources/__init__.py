"""Where frames come from: webcams (OpenCV), files and network streams (PyAV), image sequences,
a synthetic scene; and ``PacedSource`` to play any of them like a camera.

Every source is a context manager with ``read() -> Frame | None`` (None = end of stream)
and an ``info`` (``SourceInfo``) saying what it is (``SourceKind``). Frames keep the
timestamp the source gave them, so sinks can write the source's timing. Failures a user
can cause are one-line ``SourceError``s; a live source that stops and cannot be brought
back is ``SourceLostError``. Warnings go to ``logging`` (never print).
"""

from stream.core.media import is_url
from stream.sources.av_open import redact
from stream.sources.base import Source, SourceInfo, SourceKind, SourceOptions
from stream.sources.damage import damaged_frames
from stream.sources.factory import open_source
from stream.sources.files import FileSource
from stream.sources.images import ImageSequenceSource
from stream.sources.pacing import PacedSource, Pacer
from stream.sources.still import StillImageSource
from stream.sources.streams import StreamSource
from stream.sources.synthetic import SyntheticSource
from stream.sources.webcam import WebcamSource

__all__ = [
    "FileSource", "ImageSequenceSource", "PacedSource", "Pacer", "Source", "SourceInfo", "SourceKind", "SourceOptions",
    "StillImageSource", "StreamSource", "SyntheticSource", "WebcamSource", "damaged_frames", "is_url", "open_source",
    "redact",
]
