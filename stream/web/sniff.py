"""What an uploaded file really is, by its content: the name and the browser's type are never trusted.

A photo is judged and decoded by the command line's own reader (``stream.sources.still``,
``stream.sources.sniff``), so a file the command line takes the page takes, and a file it
refuses the page refuses: its size declared in its header must stay within
``images.max_pixels`` (413, before anything is decoded), it must be a picture (415) and
decode whole (415). A video must open with PyAV, declare no more than ``images.max_pixels``
(413) and hold a video stream that is not a single still picture. Anything else is refused
with ``UploadRejected``: an HTTP status (415 wrong type, 413 too big, 400 broken request,
429 queue full) and one line naming the problem and what to do, which the page shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.container

from stream.core.media import image_suffix
from stream.sources.av_open import is_picture_format
from stream.sources.sniff import IMAGE_FORMATS, NotAPicture, PictureError, TooManyPixels, check_pixels
from stream.sources.still import decode_picture
from stream.sources.truncation import Declared, truncation


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


def check_image(path: Path, max_pixels: int) -> tuple[str, int, int]:
    """(extension, width, height) of an uploaded photo, judged as the command line judges a photo;
    ``UploadRejected`` 413 past ``max_pixels``, 415 if it is no picture or does not decode."""
    try:
        image, suffix = decode_picture(path, max_pixels, "this file")
    except TooManyPixels as exc:
        raise UploadRejected(413, f"this photo {exc.reason}, the most this server decodes; choose a smaller photo") from None
    except NotAPicture:
        raise UploadRejected(415, f"this file is not a picture (its content is not {IMAGE_FORMATS}, whatever its name); "
                                  "choose a photo") from None
    except PictureError as exc:
        raise UploadRejected(415, f"this file {exc.reason}; choose another photo") from None
    height, width = image.shape[:2]
    return suffix, width, height


def check_video(path: Path, max_pixels: int) -> VideoFacts:
    """The video's size, frame count and audio; ``UploadRejected`` 415 if PyAV finds no video in it,
    413 if it declares more than ``max_pixels`` a frame, 400 if cut short."""
    with path.open("rb") as handle:
        if image_suffix(handle.read(12)) is not None:
            raise UploadRejected(415, "this file is a photo, not a video; use the photo upload for it")
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams or is_picture_format(container.format.name):
                raise UploadRejected(415, "this file holds no video (a still picture, or sound only); "
                                          "choose a video (MP4, MKV, MOV, WebM, AVI)")
            stream = streams[0]
            try:
                check_pixels(stream.codec_context.width, stream.codec_context.height, max_pixels, "this video")
            except TooManyPixels as exc:
                raise UploadRejected(413, f"this video {exc.reason}, the most this server decodes; choose a smaller video") from None
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
