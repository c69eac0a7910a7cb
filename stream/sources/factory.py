"""``--source`` text -> an open source: the first kind in ``SOURCES`` (``registry``) that matches opens it."""

from __future__ import annotations

from stream.core.errors import SourceError
from stream.sources.base import Source, SourceOptions
from stream.sources.registry import SOURCES, open_av

__all__ = ["open_av", "open_source"]


def open_source(spec: str, options: SourceOptions | None = None) -> Source:
    """``synthetic[:WxH]``, a webcam index, a URL, an image pattern (``%04d``), a photo, any registered kind,
    or a file path -> an open source."""
    options = options or SourceOptions()
    spec = str(spec).strip()
    if not spec:
        raise SourceError("no source given; pass --source (a file, a URL, a webcam index or 'synthetic')")
    for kind in SOURCES:
        if kind.matches(spec):
            return kind.open(spec, options)
    raise SourceError(f"no source kind takes {spec!r}; use one of {', '.join(SOURCES.names())}")  # only if 'file' was removed
