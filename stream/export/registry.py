"""``DEPTH_FORMATS``: every ``--depth-output`` format by extension (and ``folder``), with how to write it.

A format is one module (a ``DepthFileSink``) and one entry here; ``make_depth_sink`` and the
path checks (``checks``: unknown extensions, one-frame formats for one picture only) read this
registry, so a registered format is accepted and named in their messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stream.core.registry import Registry
from stream.export.base import DepthFileSink
from stream.export.images import ImageDepthSink
from stream.export.sequence import NpzDepthSink, PngFolderDepthSink
from stream.export.video import Ffv1DepthSink

FOLDER = "folder"  # an existing folder, or a path without an extension


@dataclass(frozen=True)
class DepthFormat:
    """One depth format: its extension (``.png``, or ``folder``), whether it holds one picture, its writer."""

    extension: str
    one_frame: bool
    make: Callable[[Path, float], DepthFileSink]  # make(path, fps)
    description: str = ""


DEPTH_FORMATS: Registry[DepthFormat] = Registry("depth format")
for _extension, _what in ((".png", "16-bit normalised PNG and a JSON sidecar"), (".npy", "raw float32"), (".pfm", "raw float32")):
    DEPTH_FORMATS.register(_extension, DepthFormat(_extension, True, lambda path, _fps: ImageDepthSink(path), _what))
DEPTH_FORMATS.register(".mkv", DepthFormat(".mkv", False, lambda path, fps: Ffv1DepthSink(path, fps), "FFV1 16-bit video"))
DEPTH_FORMATS.register(".npz", DepthFormat(".npz", False, lambda path, _fps: NpzDepthSink(path), "raw float32, every frame"))
DEPTH_FORMATS.register(FOLDER, DepthFormat(FOLDER, False, lambda path, _fps: PngFolderDepthSink(path), "16-bit PNG per frame"))


def one_frame_formats() -> tuple[str, ...]:
    """Extensions whose file holds one picture (a photo, or ``--max-frames 1``)."""
    return tuple(entry.extension for entry in DEPTH_FORMATS if entry.one_frame)


def video_formats() -> tuple[str, ...]:
    """Extensions whose file holds every frame (the folder format aside)."""
    return tuple(entry.extension for entry in DEPTH_FORMATS if not entry.one_frame and entry.extension != FOLDER)
