"""``SOURCES``: every ``--source`` spelling, in the order they are tried; the first that matches opens it.

Built in, in order: ``synthetic[:WxH]``, a webcam index, a URL, an image pattern (``%04d``),
a photo, and last the catch-all video file (which refuses missing, empty and folder paths,
named pipes and devices in one line each, without opening them). A new kind is one module
and one ``SOURCES.register(name, entry)``; it is tried before the catch-all file. A URL is
a FILE when its container knows its duration (a finite file served over HTTP(S), an HLS
playlist with an end) and a live STREAM otherwise; only streams reconnect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stream.core.errors import SourceError
from stream.core.filekind import FOLDER, special_kind
from stream.core.registry import Registry
from stream.sources.av_open import is_url, open_video, redact
from stream.sources.base import DEFAULT_FPS, Source, SourceOptions
from stream.sources.files import FileSource
from stream.sources.images import ImageSequenceSource, is_image_pattern
from stream.sources.sniff import check_pixels
from stream.sources.still import StillImageSource, looks_like_image
from stream.sources.streams import StreamSource
from stream.sources.synthetic import SyntheticSource
from stream.sources.webcam import WebcamSource


@dataclass(frozen=True)
class SourceKindEntry:
    """One kind of source: whether a (stripped, non-empty) ``--source`` text is its, and how to open it."""

    name: str
    matches: Callable[[str], bool]
    open: Callable[[str, SourceOptions], Source]


def _path(spec: str) -> Path:
    return Path(spec.removeprefix("file://"))


def is_synthetic(spec: str) -> bool:
    return spec == "synthetic" or spec.startswith("synthetic:")


def open_synthetic(spec: str, options: SourceOptions) -> SyntheticSource:
    size = spec.partition(":")[2]
    width, height = options.width or 640, options.height or 480
    if size:
        match = re.fullmatch(r"(\d+)[xX](\d+)", size)
        if not match:
            raise SourceError(f"bad synthetic size {size!r}; use e.g. synthetic:640x480")
        width, height = int(match.group(1)), int(match.group(2))
    check_pixels(width, height, options.max_pixels, spec)
    return SyntheticSource(width, height, options.fps or DEFAULT_FPS)


def open_av(target: str, options: SourceOptions) -> FileSource | StreamSource:
    """A file or URL through PyAV: a ``FileSource`` if finite, else a live ``StreamSource``."""
    name = redact(target)
    video = open_video(target, name, options)
    try:
        if is_url(target) and video.duration is None:
            return StreamSource(video, target, name, options)
        return FileSource(video, target, name, options)
    except BaseException:
        video.close()
        raise


def is_missing_pattern(spec: str) -> bool:
    """``frames/%04d.png``: a pattern, not a file of that very name."""
    return not _path(spec).exists() and is_image_pattern(spec)


def _nonempty_photo(spec: str) -> bool:
    """A still picture (``looks_like_image``) that is not empty (an empty one gets the file entry's message)."""
    path = _path(spec)
    return looks_like_image(path) and path.stat().st_size > 0


def open_file(spec: str, options: SourceOptions) -> FileSource | StreamSource:
    """The catch-all: a video file, refused in one line if it is missing, a folder, a pipe, a device or empty.

    What the path is comes from ``os.stat`` alone: a named pipe is never opened (that would
    block) and a device never read (``/dev/zero`` has no end).
    """
    path = _path(spec)
    if not path.exists():
        raise SourceError(f"video file not found: {spec}; check --source")
    kind = special_kind(path)
    if kind == FOLDER:
        raise SourceError(f"{spec} is a folder, not a video file; pass a file to --source")
    if kind is not None:
        raise SourceError(f"{spec} is {kind}; pass a video or photo file to --source (a webcam by its index, e.g. 0; "
                          "a stream by its URL)")
    if path.stat().st_size == 0:
        raise SourceError(f"{spec} is empty (0 bytes); check --source")
    return open_av(spec, options)


SOURCES: Registry[SourceKindEntry] = Registry("source kind", last="file")
SOURCES.register("synthetic", SourceKindEntry("synthetic", is_synthetic, open_synthetic))
SOURCES.register("webcam", SourceKindEntry("webcam", str.isdigit, lambda spec, options: WebcamSource(int(spec), options)))
SOURCES.register("url", SourceKindEntry("url", is_url, open_av))
SOURCES.register("images", SourceKindEntry("images", is_missing_pattern,
                                           lambda spec, options: ImageSequenceSource(spec, options.fps, options.max_pixels)))
SOURCES.register("photo", SourceKindEntry("photo", _nonempty_photo,
                                          lambda spec, options: StillImageSource(_path(spec), options.max_pixels)))
SOURCES.register("file", SourceKindEntry("file", lambda _spec: True, open_file))


PATH_KINDS = ("images", "photo", "file")  # the kinds that look at the file system; the others know their text


def names_no_path(spec: str) -> bool:
    """``--source`` text that a kind claims without a file: synthetic, a webcam index, a URL, a registered toy.

    The one reading of a spec that the photo check, the photo-folder check and ``open_source``
    share, in the registry's order: what opens as a camera is never taken for a path.
    """
    spec = str(spec).strip()
    return any(entry.matches(spec) for name, entry in SOURCES.items() if name not in PATH_KINDS)


def is_photo(spec: str) -> bool:
    """Whether ``--source`` text names one photo (what ``open_source`` opens as ``StillImageSource``)."""
    spec = str(spec).strip()
    if not spec or names_no_path(spec):
        return False
    return looks_like_image(_path(spec))
