"""Decoded PyAV frames -> the upright BGR pictures the app works on, always of one size.

Shared by file and stream sources: the colour matrix and HDR tone mapping (``colour``), the display rotation
(``orientation``, taken from the first frame: a stream's orientation is a property of the
stream) and, should a stream change resolution mid-way (a restarted sender, concatenated
files), a resize back to the first frame's size so every later stage sees one size.
"""

from __future__ import annotations

import logging

import av.video.frame
import av.video.stream
import cv2
import numpy as np

from stream.sources.base import DEFAULT_FPS
from stream.sources.colour import BGRConverter
from stream.sources.hdr import hdr_format
from stream.sources.orientation import Orientation

log = logging.getLogger(__name__)


class Picture:
    """Upright BGR images of one stream's frames; ``width``/``height`` are the upright size.

    ``conversion`` is what the startup line says about the colours: how HDR is made SDR (else None).
    """

    def __init__(self, first: av.video.frame.VideoFrame, name: str) -> None:
        self.name = name
        hdr = hdr_format(first)
        self.conversion = hdr.describe() if hdr is not None else None
        self.orientation = Orientation.of(first, name)
        self.width, self.height = self.orientation.upright_size(first.width, first.height)
        self._converter = BGRConverter()
        self._warned = False

    def image(self, frame: av.video.frame.VideoFrame) -> np.ndarray:
        image = self.orientation.apply(self._converter.convert(frame))
        if image.shape[:2] != (self.height, self.width):
            if not self._warned:
                log.warning("%s changed size to %dx%d mid-stream; scaling it back to %dx%d", self.name,
                            image.shape[1], image.shape[0], self.width, self.height)
                self._warned = True
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return image


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    """The stream's frame rate (average, else guessed), or 30 when FFmpeg gives nothing sane."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate and 0 < float(rate) < 1000 else DEFAULT_FPS


def stream_duration(stream: av.video.stream.VideoStream, container_duration: float | None) -> float | None:
    """The video's duration in seconds: the stream's, Matroska's per-track tag, else the container's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
    return container_duration


def frame_count(stream: av.video.stream.VideoStream, container_duration: float | None, fps: float) -> int | None:
    """The header's frame count, else duration x fps (MKV/WebM declare no count), else None."""
    if stream.frames:
        return int(stream.frames)
    duration = stream_duration(stream, container_duration)
    return round(duration * fps) if duration else None
