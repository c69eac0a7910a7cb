"""One photo as a source: a single upright 8-bit BGR frame (``SourceKind.IMAGE``).

A photo is shown as a viewer shows it: a JPEG's EXIF orientation is applied (phones store
portraits sideways and say so in EXIF), 16-bit and float pictures are scaled to 8 bits
rather than cut, grey becomes three equal channels and alpha is dropped. OpenCV decodes
(``imdecode`` of the file's bytes, so any path works); what it cannot read is tried with
PyAV, whose image decoders cover a few more formats.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from stream.core.errors import SourceError
from stream.core.frames import Closing, Frame
from stream.core.media import ffmpeg_name, image_suffix, is_image_name
from stream.sources.base import SourceInfo, SourceKind

STILL_FPS = 25.0  # a photo written to a video becomes one frame of 1/25 s


def looks_like_image(path: Path) -> bool:
    """An existing file whose extension or first bytes say it is a still picture (not a video)."""
    if not path.is_file():
        return False
    if is_image_name(path):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return image_suffix(head) is not None


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded picture -> 3-channel uint8 BGR: grey widened, alpha dropped, deep pixels scaled."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    values = image.astype(np.float32)
    if np.issubdtype(image.dtype, np.floating) and float(np.nanmax(values, initial=0.0)) <= 1.0:
        values = values * 255.0  # float pictures are conventionally 0..1
    return np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    """The picture in ``path``, upright, as uint8 BGR; a ``SourceError`` naming the file if it is none."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {path} ({exc.strerror}); check --source") from None
    # IMREAD_COLOR applies EXIF orientation (IMREAD_UNCHANGED would not); ANYDEPTH keeps 16 bits to scale
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is None:
        image = _read_with_av(path)
    if image is None:
        raise SourceError(f"{path} is not an image OpenCV or FFmpeg can read; check --source")
    return to_bgr8(image)


def _read_with_av(path: Path) -> np.ndarray | None:
    import av

    try:
        with av.open(ffmpeg_name(path)) as container:
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="bgr24")
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return None
    return None


class StillImageSource(Closing):
    """One frame (index 0, pts 0), decoded when opened so a bad file fails before any work."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._image: np.ndarray | None = read_image(self.path)
        height, width = self._image.shape[:2]
        self.info = SourceInfo(width, height, STILL_FPS, 1, Fraction(1, int(STILL_FPS)), SourceKind.IMAGE,
                               f"image {self.path}")

    def read(self) -> Frame | None:
        image, self._image = self._image, None
        return None if image is None else Frame(image, 0, pts=0, time_base=self.info.time_base)
