"""Depth of one picture: a 16-bit PNG (with its sidecar), raw float32 ``.npy``, or ``.pfm``.

These hold one frame; the app allows them for a photo (or a one-frame run) only. Each
frame replaces the previous one, so the file holds the last frame written.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.export.base import DepthFileSink
from stream.export.pfm import pfm_bytes
from stream.export.sidecar import frame_entry, sidecar_path, sidecar_text, to_uint16


def png16_bytes(index: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", to_uint16(index))
    if not ok:
        raise OSError("PNG encoding failed")
    return encoded.tobytes()


def npy_bytes(depth: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(depth, np.float32))
    return buffer.getvalue()


class ImageDepthSink(DepthFileSink):
    """``.png`` (16-bit normalised + ``PATH.json``), ``.npy`` or ``.pfm`` (raw float32 model depth)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        self._sidecar: str | None = None

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        if self.kind == "png":
            data = png16_bytes(normalised.index)
            self._sidecar = sidecar_text([frame_entry(item, normalised)], "uint16 PNG, v = round(index * 65535)")
        elif self.kind == "npy":
            data = npy_bytes(item.depth)
        else:
            data = pfm_bytes(item.depth)
        self.staged.path_for(self.path).write_bytes(data)

    def _finish(self) -> None:
        if self._sidecar is not None:
            self.staged.path_for(sidecar_path(self.path)).write_text(self._sidecar)
