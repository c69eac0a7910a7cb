"""The side-by-side of a photo as an image file (PNG, JPEG, WebP, BMP, TIFF).

The picture is encoded in memory, written to a hidden temporary name in the output's
folder and renamed over the final name only when complete (a rename within one folder
is atomic), so a failed or interrupted write never leaves a half image under that name.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stream.core.errors import OutputWriteError
from stream.core.frames import Closing, Frame
from stream.core.staging import write_bytes_atomically

JPEG_QUALITY = 95  # the depth half has smooth gradients that the default 75 bands visibly


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """``image`` (BGR uint8) encoded as the format ``suffix`` names."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(suffix.lower(), image, params)
    if not ok:
        raise OutputWriteError(f"OpenCV could not encode a {suffix} image; choose another --output extension")
    return buffer.tobytes()


class ImageFileSink(Closing):
    """Writes each frame it gets to ``path`` (a photo gives one); ``frames_written`` counts them."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        data = encode_image(frame.image, self.path.suffix)
        try:
            write_bytes_atomically(self.path, data)
        except OSError as exc:
            raise OutputWriteError(f"writing {self.path} failed ({exc.strerror or exc}); "
                                   "free some space or choose another --output") from None
        self.frames_written += 1
