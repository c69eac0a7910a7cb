"""PFM, the float image format MiDaS's run.py writes: raw float32 depth any tool of theirs reads.

Layout (as MiDaS writes it): ``Pf`` (one channel), ``width height``, the scale ``-1.000000``
(negative = little-endian), then float32 rows from the bottom row to the top.
"""

from __future__ import annotations

import io

import numpy as np


def pfm_bytes(depth: np.ndarray) -> bytes:
    """A single-channel little-endian PFM of ``depth`` (H x W)."""
    height, width = depth.shape[:2]
    header = f"Pf\n{width} {height}\n{-1.0:f}\n".encode("ascii")
    return header + np.ascontiguousarray(np.flipud(depth), dtype="<f4").tobytes()


def read_pfm(data: bytes) -> np.ndarray:
    """The float32 image (top row first) in a PFM file's bytes (grey ``Pf`` or colour ``PF``)."""
    stream = io.BytesIO(data)
    kind = stream.readline().strip()
    if kind not in (b"Pf", b"PF"):
        raise ValueError("not a PFM file")
    width, height = (int(v) for v in stream.readline().split())
    scale = float(stream.readline())
    channels = 1 if kind == b"Pf" else 3
    values = np.frombuffer(stream.read(), dtype="<f4" if scale < 0 else ">f4", count=width * height * channels)
    shape = (height, width) if channels == 1 else (height, width, 3)
    return np.flipud(values.reshape(shape)).astype(np.float32)
