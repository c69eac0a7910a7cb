"""An image sequence (``frames/frame_%04d.png``) played as a video at a chosen rate.

The pattern is a printf one, as FFmpeg's: ``%d`` or ``%0Nd`` once, in the file name. Every
matching file is a frame, in numeric order, with pts = its position in ``1/fps``. A
pattern that matches nothing, or a file that is not an image, is a one-line ``SourceError``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stream.core.errors import SourceError
from stream.core.frames import Closing, Frame
from stream.sources.base import DEFAULT_MAX_PIXELS, SourceInfo, SourceKind, frame_time_base
from stream.sources.sniff import PictureError
from stream.sources.still import read_image

DEFAULT_IMAGE_FPS = 25.0
_NUMBER = re.compile(r"%(0\d+)?d")


def is_image_pattern(spec: str) -> bool:
    """Whether ``spec``'s file name holds exactly one ``%d`` / ``%0Nd``."""
    return len(_NUMBER.findall(Path(spec).name.replace("%%", ""))) == 1


def matching_files(pattern: str) -> list[Path]:
    """The files ``pattern % n`` names, for any n >= 0, sorted by n."""
    path = Path(pattern)
    name = path.name.replace("%%", "\0")
    number = _NUMBER.search(name)
    if number is None:
        return []
    prefix, suffix = (part.replace("\0", "%") for part in (name[:number.start()], name[number.end():]))
    spec = number.group(0)
    shape = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
    folder = path.parent
    found: list[tuple[int, Path]] = []
    if folder.is_dir():
        for candidate in folder.iterdir():
            match = shape.fullmatch(candidate.name)
            if match and candidate.name == prefix + spec % int(match.group(1)) + suffix and candidate.is_file():
                found.append((int(match.group(1)), candidate))
    return [p for _, p in sorted(found)]


class ImageSequenceSource(Closing):
    """Reads each file as a photo (``still.read_image``: PNG, JPEG, BMP, TIFF, WebP; each within ``max_pixels``);
    every picture must have the first one's size."""

    def __init__(self, pattern: str, fps: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.pattern = pattern
        self.max_pixels = max_pixels
        self.files = matching_files(pattern)
        if not self.files:
            raise SourceError(f"no file matches the image pattern {pattern}; "
                              "check the folder and the %0Nd width in --source")
        rate = float(fps or DEFAULT_IMAGE_FPS)
        if rate <= 0:
            raise SourceError(f"bad image sequence rate {rate:g} fps; pass a positive --fps")
        first = self._load(0)
        height, width = first.shape[:2]
        self._pending: np.ndarray | None = first
        self.index = 0
        self.info = SourceInfo(width, height, rate, len(self.files), frame_time_base(rate), SourceKind.IMAGES,
                               f"images {pattern}")

    def _load(self, index: int) -> np.ndarray:
        path = self.files[index]
        try:
            return read_image(path, self.max_pixels)  # judged and decoded as a photo is
        except PictureError as exc:
            raise SourceError(f"{path} {exc.reason} (frame {index} of {self.pattern}); remove or replace it") from None

    def read(self) -> Frame | None:
        if self.index >= len(self.files):
            return None
        image = self._pending if self._pending is not None else self._load(self.index)
        self._pending = None
        if image.shape[:2] != (self.info.height, self.info.width):
            raise SourceError(f"{self.files[self.index]} is {image.shape[1]}x{image.shape[0]}, but the sequence "
                              f"{self.pattern} is {self.info.width}x{self.info.height}; give every image one size")
        frame = Frame(image, self.index, pts=self.index, time_base=self.info.time_base)
        self.index += 1
        return frame
