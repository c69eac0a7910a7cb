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

from stream.core.media import image_suffix
from stream.sources.av_open import is_picture_format
from stream.sources.sniff import IMAGE_FORMATS, NotAPicture, PictureError, TooManyPixels, check_pixels
from stream.sources.still import decode_picture


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
    413 if it declares more than ``max_pixels`` a frame."""
    import av

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
            return VideoFacts(stream.codec_context.width, stream.codec_context.height, frames, bool(container.streams.audio))
    except (av.FFmpegError, OSError, ValueError, IndexError):
        raise UploadRejected(415, "this file is not a video FFmpeg can read (its content, whatever its name); "
                                  "choose a video (MP4, MKV, MOV, WebM, AVI)") from None


def estimated_frames(stream: object, duration_us: int | None) -> int:
    """Frames from the container's duration x the stream's rate (MKV/WebM often state no count)."""
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
    if not duration_us or not rate:
        return 0
    return max(1, round(duration_us / 1e6 * float(rate)))
