"""Turning a picture upright as its display matrix asks (phone videos are stored sideways).

A portrait phone clip is usually coded landscape with a display matrix (the old ``rotate``
tag) saying "turn me 90 degrees"; players obey it, so must we, or depth is estimated on a
sideways picture and written sideways. Rotations by multiples of 90 degrees and mirror flips
are applied; any other angle is rare and is left alone with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av.video.frame
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orientation:
    """Transpose (swap rows and columns) first, then flip rows and/or columns."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def from_matrix(cls, matrix: Sequence[int] | np.ndarray) -> Orientation | None:
        """From FFmpeg's 3x3 display matrix (row-major, 16.16); None unless a multiple of 90 degrees.

        The matrix maps a coded pixel (p, q) to the displayed (a*p + c*q, b*p + d*q).
        """
        entries = [float(matrix[i]) for i in (0, 1, 3, 4)]
        scale = max(abs(v) for v in entries)
        units = [_unit(v / scale) for v in entries] if scale else [None]
        if None in units:
            return None
        a, b, c, d = units
        if b == 0 and c == 0 and a and d:
            return cls(False, flip_rows=d < 0, flip_cols=a < 0)
        if a == 0 and d == 0 and b and c:
            return cls(True, flip_rows=b < 0, flip_cols=c < 0)
        return None

    @classmethod
    def of(cls, frame: av.video.frame.VideoFrame, name: str = "the video") -> Orientation:
        """The orientation a decoded frame's display matrix asks for (upright if it has none)."""
        data: Any = frame.side_data.get("DISPLAYMATRIX")
        if data is None:
            return cls()
        matrix = np.frombuffer(bytes(data), dtype=np.int32)[:9]
        found = cls.from_matrix(matrix)
        if found is None:
            log.warning("%s asks to be shown rotated by %d degrees; only multiples of 90 are applied, "
                        "so it is used as stored", name, frame.rotation)
            return cls()
        return found

    @property
    def is_identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    def upright_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return image
        out = image.swapaxes(0, 1) if self.transpose else image
        out = out[::-1 if self.flip_rows else 1, ::-1 if self.flip_cols else 1]
        return np.ascontiguousarray(out)


def _unit(value: float) -> int | None:
    """-1, 0 or 1 when ``value`` is (nearly) one of them, else None."""
    for unit in (-1, 0, 1):
        if abs(value - unit) < 0.01:
            return unit
    return None
