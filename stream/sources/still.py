"""One photo as a source: a single upright 8-bit BGR frame (``SourceKind.IMAGE``).

A photo is shown as a viewer shows it: a JPEG's EXIF orientation is applied (phones store
portraits sideways and say so in EXIF), 16-bit and float pictures are scaled to 8 bits
rather than cut, grey becomes three equal channels and alpha is dropped. The file is judged
first (``sniff``: what it is, its declared size against ``images.max_pixels``), then OpenCV
decodes (``imdecode`` of the file's bytes, so any path works). A file that is no picture
OpenCV knows by its first bytes is tried with FFmpeg's still-picture readers (a GIF, a PPM);
one that is, but does not decode (a JPEG cut short), is damaged: refused, never half-shown.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from stream.core.errors import SourceError
from stream.core.frames import Closing, Frame
from stream.core.media import ffmpeg_name, image_suffix, is_image_name
from stream.sources.base import DEFAULT_MAX_PIXELS, SourceInfo, SourceKind
from stream.sources.sniff import (
    FORMAT_NAMES,
    IMAGE_FORMATS,
    DamagedPicture,
    NotAPicture,
    check_picture,
    check_pixels,
)

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


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """The picture in ``path``, upright, as uint8 BGR; a ``PictureError`` naming the file (or ``name``) if it is none."""
    return decode_picture(path, max_pixels, name)[0]


def decode_picture(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> tuple[np.ndarray, str]:
    """(the picture as uint8 BGR, its extension): judged by ``sniff.check_picture`` first, so a folder, a pipe, a
    damaged header or a picture past ``max_pixels`` is refused before anything is decoded or allocated."""
    name = name or str(path)
    suffix = check_picture(path, max_pixels, name)
    if suffix is None:  # no picture OpenCV knows by its first bytes: FFmpeg's still-picture readers may know it
        image = _read_with_av(path, max_pixels, name)
        if image is None:
            raise NotAPicture(name, f"is not an image (its content is not {IMAGE_FORMATS}, nor another picture FFmpeg "
                                    "reads, whatever its name)", "check --source")
        return image, ".png"
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {name} ({exc.strerror}); check --source") from None
    image = _decode(data)
    if image is None:
        raise DamagedPicture(name, f"is a damaged or cut-short {FORMAT_NAMES[suffix]} (its header is whole, its pixels "
                                   "cannot be decoded)", "re-copy or re-save the file")
    return to_bgr8(image), suffix


def _decode(data: np.ndarray) -> np.ndarray | None:
    """OpenCV's decoding, quiet: a failure is the caller's one line, not OpenCV's log on stderr."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        # IMREAD_COLOR applies EXIF orientation (IMREAD_UNCHANGED would not); ANYDEPTH keeps 16 bits to scale
        image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
        if image is None:  # a one-channel float TIFF: OpenCV makes no colour of it, but reads it as it is
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        return image
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


def _read_with_av(path: Path, max_pixels: int, name: str) -> np.ndarray | None:
    """The first frame of a still picture FFmpeg reads (not a video's), its declared size checked before decoding."""
    import av

    from stream.sources.av_open import is_picture_format

    try:
        with av.open(ffmpeg_name(path)) as container:
            streams = container.streams.video
            if not streams or not is_picture_format(container.format.name):
                return None
            check_pixels(streams[0].codec_context.width, streams[0].codec_context.height, max_pixels, name)
            for frame in container.decode(streams[0]):
                return frame.to_ndarray(format="bgr24")
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return None
    return None


class StillImageSource(Closing):
    """One frame (index 0, pts 0), decoded when opened so a bad file fails before any work."""

    def __init__(self, path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.path = Path(path)
        self._image: np.ndarray | None = read_image(self.path, max_pixels)
        height, width = self._image.shape[:2]
        self.info = SourceInfo(width, height, STILL_FPS, 1, Fraction(1, int(STILL_FPS)), SourceKind.IMAGE,
                               f"image {self.path}")

    def read(self) -> Frame | None:
        image, self._image = self._image, None
        return None if image is None else Frame(image, 0, pts=0, time_base=self.info.time_base)
