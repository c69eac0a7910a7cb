"""The one list of media extensions and the name checks every layer shares.

Which names count as a photo (an input the photo source opens, an output the image sink
writes), which as a video container the app writes, which as a video a batch reads, and
which ``--source`` text is a glob or a URL: decided here once, so the input check and the
output check can never disagree. The picture signatures (first bytes) are here too: the
photo source and the page's upload check recognise a photo by the same bytes.
And the one name a picture or point cloud saved while watching gets (``snapshot_name``).
"""

from __future__ import annotations

import itertools
import os
import time
from os import PathLike
from pathlib import PurePath

# photo inputs and image outputs; the order is the one messages list them in
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# the containers FFmpeg writes here
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
# what FFmpeg reads as video beyond the containers the app writes
VIDEO_INPUT_EXTENSIONS = VIDEO_EXTENSIONS + (".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv")
GLOB_CHARACTERS = "*?["

# first bytes -> the extension the photo source recognises the file by (WebP is RIFF....WEBP)
IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


def is_image_name(name: str | PathLike[str]) -> bool:
    """Whether a file name's extension is a photo's (case ignored)."""
    return PurePath(name).suffix.lower() in IMAGE_EXTENSIONS


def is_video_name(name: str | PathLike[str]) -> bool:
    """Whether a file name's extension is a video FFmpeg reads (case ignored)."""
    return PurePath(name).suffix.lower() in VIDEO_INPUT_EXTENSIONS


def has_glob(spec: str) -> bool:
    """Whether ``spec`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(char in spec for char in GLOB_CHARACTERS)


def is_url(spec: str) -> bool:
    """Whether ``--source`` text is a network address (``rtsp://``, ``http://``; ``file://`` is a path)."""
    return "://" in spec and not spec.startswith("file://")


def ffmpeg_name(target: str | PathLike[str]) -> str:
    """What to hand FFmpeg for ``target``: a URL as it is, a local path (``file://`` too) made absolute.

    FFmpeg reads the text before a colon as a protocol, so ``take:2.mp4`` (a common name for an
    exported clip) would be "Protocol not found"; ``/clips/take:2.mp4`` starts with ``/`` and is
    always a file. Every ``av.open`` of a local path goes through here, for reading and writing.
    """
    text = os.fspath(target)
    if is_url(text):
        return text
    return os.path.abspath(text.removeprefix("file://"))


def image_suffix(head: bytes) -> str | None:
    """The photo extension for a file starting with ``head`` (its first 12 bytes), None if no known picture starts so."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    for signature, suffix in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return suffix
    return None


_snapshots = itertools.count()


def snapshot_name(suffix: str, now: float | None = None) -> str:
    """``depth-<date>-<time>-<ms>-<n><suffix>``: the one name for a picture or cloud a user saves while watching.

    The window's ``s`` (PNG) and ``p`` (PLY) keys and the page's snapshot download share it;
    ``n`` counts every name this process gave, so two saves in one millisecond, or a
    snapshot and a cloud of the same frame, never take the same name and sort in order.
    """
    now = time.time() if now is None else now
    return f"depth-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1000) % 1000:03d}-{next(_snapshots):03d}{suffix}"
