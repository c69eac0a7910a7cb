"""``--source`` text -> an open source: synthetic scene, webcam, image sequence, photo, file or URL.

A URL is a FILE when its container knows its duration (a finite file served over HTTP(S),
an HLS playlist with an end) and a live STREAM otherwise; only streams reconnect.
"""

from __future__ import annotations

import re
from pathlib import Path

from stream.core.errors import SourceError
from stream.sources.av_open import is_url, open_video, redact
from stream.sources.base import DEFAULT_FPS, Source, SourceOptions
from stream.sources.files import FileSource
from stream.sources.images import ImageSequenceSource, is_image_pattern
from stream.sources.still import StillImageSource, looks_like_image
from stream.sources.streams import StreamSource
from stream.sources.synthetic import SyntheticSource
from stream.sources.webcam import WebcamSource


def open_source(spec: str, options: SourceOptions | None = None) -> Source:
    """``synthetic[:WxH]``, a webcam index, a URL, an image pattern (``%04d``), a photo or a file path -> an open source."""
    options = options or SourceOptions()
    spec = str(spec).strip()
    if not spec:
        raise SourceError("no source given; pass --source (a file, a URL, a webcam index or 'synthetic')")
    if spec == "synthetic" or spec.startswith("synthetic:"):
        return _synthetic(spec, options)
    if spec.isdigit():
        return WebcamSource(int(spec), options)
    if is_url(spec):
        return open_av(spec, options)
    path = Path(spec.removeprefix("file://"))
    if not path.exists() and is_image_pattern(spec):
        return ImageSequenceSource(spec, options.fps)
    if not path.exists():
        raise SourceError(f"video file not found: {spec}; check --source")
    if path.is_dir():
        raise SourceError(f"{spec} is a folder, not a video file; pass a file to --source")
    if path.stat().st_size == 0:
        raise SourceError(f"{spec} is empty (0 bytes), not a video; check --source")
    if looks_like_image(path):
        return StillImageSource(path)
    return open_av(spec, options)


def _synthetic(spec: str, options: SourceOptions) -> SyntheticSource:
    size = spec.partition(":")[2]
    width, height = options.width or 640, options.height or 480
    if size:
        match = re.fullmatch(r"(\d+)[xX](\d+)", size)
        if not match:
            raise SourceError(f"bad synthetic size {size!r}; use e.g. synthetic:640x480")
        width, height = int(match.group(1)), int(match.group(2))
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
