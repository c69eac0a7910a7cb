"""Pictures into encoder frames: BGR of any size -> even-sized yuv420p."""

from __future__ import annotations

import cv2
import numpy as np


def even(image: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row/column where a side is odd."""
    height, width = image.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return image


def fit(image: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A BGR uint8 picture with even sides, resized to ``width`` x ``height`` when given."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    image = even(image)
    if width is not None and height is not None and (image.shape[1], image.shape[0]) != (width, height):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image, dtype=np.uint8)


def bgr_to_yuv420(image: np.ndarray) -> np.ndarray:
    """Planar yuv420p (``H*3/2`` x ``W``) from an even-sized BGR picture.

    OpenCV's SIMD conversion is ~3x faster than letting the encoder call swscale.
    """
    return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
