"""What an uploaded file really is, by its content: the name and the browser's type are never trusted.

A photo must start with the signature of a format the app reads (JPEG, PNG, BMP, TIFF,
WebP) *and* decode with OpenCV; a video must open with PyAV and hold a video stream that
is not a single still picture. Anything else is refused with ``UploadRejected``: an HTTP
status (415 wrong type, 413 too big, 400 broken request, 429 queue full) and one line
naming the problem and what to do, which the page shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import cv2
import numpy as np

from stream.core.media import image_suffix
from stream.sources.truncation import Declared, truncation

IMAGE_FORMATS = "JPEG, PNG, WebP, BMP or TIFF"


class UploadRejected(Exception):
    """An upload the server refuses: ``status`` for HTTP, the message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class VideoFacts:
    """What the page shows before the job runs: the frame total gives the progress bar its end."""

    width: int
    height: int
    frames: int  # 0 when the container does not say and has no duration
    audio: bool


def check_image(path: Path) -> tuple[str, int, int]:
    """(extension, width, height) of an uploaded photo; ``UploadRejected`` (415) if it is none."""
    data = np.fromfile(str(path), dtype=np.uint8)
    suffix = image_suffix(data[:12].tobytes())
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if suffix is not None else None
    if image is None:
        raise UploadRejected(415, f"this file is not a picture (its content is not {IMAGE_FORMATS}, whatever its name); "
                                  "choose a photo")
    height, width = image.shape[:2]
    return suffix or ".png", width, height


def check_video(path: Path) -> VideoFacts:
    """The video's size, frame count and audio; ``UploadRejected`` (415) if PyAV finds no video in it, 400 if cut short."""
    with path.open("rb") as handle:
        if image_suffix(handle.read(12)) is not None:
            raise UploadRejected(415, "this file is a photo, not a video; use the photo upload for it")
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            still = container.format.name == "image2" or container.format.name.endswith("_pipe")  # FFmpeg's picture readers
            if not streams or still:
                raise UploadRejected(415, "this file holds no video (a still picture, or sound only); "
                                          "choose a video (MP4, MKV, MOV, WebM, AVI)")
            stream = streams[0]
            frames = stream.frames or estimated_frames(stream, container.duration)
            facts = VideoFacts(stream.codec_context.width, stream.codec_context.height, frames, bool(container.streams.audio))
            declared = Declared.of(container, stream)
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            packets, reached = count_packets(container, stream.index)
    except (av.FFmpegError, OSError, ValueError, IndexError):
        raise UploadRejected(415, "this file is not a video FFmpeg can read (its content, whatever its name); "
                                  "choose a video (MP4, MKV, MOV, WebM, AVI)") from None
    if truncation(declared, packets, reached, packets, rate) is not None:
        promised = f"{declared.frames} frames" if declared.frames else f"{declared.end:.1f} s"
        raise UploadRejected(400, f"this video is cut short: its header promises {promised} but the file ends after "
                                  f"{packets} frames (an incomplete copy or download); upload the complete file")
    return facts


def count_packets(container: av.container.InputContainer, video_index: int) -> tuple[int, float | None]:
    """The video packets present and the time any stream's packets reach: demuxed, not decoded (fast).

    What ``stream.sources.truncation`` compares with the header, on arrival: an upload cut
    short whose index comes first (a fast-start MP4, MKV) opens fine and would fail only
    part-way through its job.
    """
    packets, reached = 0, None
    try:
        for packet in container.demux():
            start = packet.pts if packet.pts is not None else packet.dts
            if start is not None and packet.time_base is not None:
                end = float((start + (packet.duration or 0)) * packet.time_base)
                reached = end if reached is None else max(reached, end)
            if packet.stream_index == video_index and (packet.size or start is not None):
                packets += 1
    except av.FFmpegError:
        pass  # damage where the bytes stop: what was counted so far is what the file holds
    return packets, reached


def estimated_frames(stream: object, duration_us: int | None) -> int:
    """Frames from the container's duration x the stream's rate (MKV/WebM often state no count)."""
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
    if not duration_us or not rate:
        return 0
    return max(1, round(duration_us / 1e6 * float(rate)))
