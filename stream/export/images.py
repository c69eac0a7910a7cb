"""Depth of one picture: a 16-bit PNG (with its sidecar), raw float32 ``.npy``, or ``.pfm``.

These hold one frame; the app allows them for a photo (or a one-frame run) only. Each
frame replaces the previous one, so the file holds the last frame written. The 16-bit PNG
holds millimetres for a metric model and the normalised index for a relative one
(``sidecar``); ``.npy`` and ``.pfm`` hold the model's float32 output as it is (metres for a
metric model, with a ``PATH.json`` saying so; relative inverse depth otherwise).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.export.base import DepthFileSink
from stream.export.pfm import pfm_bytes
from stream.export.sidecar import raw_sidecar_text, sidecar_path, sidecar_text, uint16_depth, values_text


def encode_png16(values: np.ndarray) -> bytes:
    """A uint16 picture as PNG bytes."""
    ok, encoded = cv2.imencode(".png", values)
    if not ok:
        raise OSError("PNG encoding failed")
    return encoded.tobytes()


def depth_png16(item: DepthFrame, normalised: Normalised, **extra: Any) -> tuple[bytes, dict[str, Any]]:
    """The frame's 16-bit PNG (millimetres for a metric model, else the index) and its sidecar entry."""
    values, entry = uint16_depth(item, normalised, **extra)
    return encode_png16(values), entry


def npy_bytes(depth: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(depth, np.float32))
    return buffer.getvalue()


class ImageDepthSink(DepthFileSink):
    """``.png`` (16-bit + ``PATH.json``), ``.npy`` or ``.pfm`` (raw float32 model depth; ``PATH.json`` if metres)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        self._sidecar: str | None = None

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        model = item.model
        if self.kind == "png":
            data, entry = depth_png16(item, normalised)
            self._sidecar = sidecar_text([entry], f"uint16 PNG, {values_text(model)}", model)
        else:
            data = npy_bytes(item.depth) if self.kind == "npy" else pfm_bytes(item.depth)
            self._sidecar = raw_sidecar_text(model, f"float32 {self.kind.upper()}") if model.is_metric else None
        self.staged.path_for(self.path).write_bytes(data)

    def _finish(self) -> None:
        if self._sidecar is not None:
            self.staged.path_for(sidecar_path(self.path)).write_text(self._sidecar)
