"""Depth of a video: a lossless 16-bit grey video (FFV1 ``gray16le`` in Matroska) plus its sidecar.

Millimetres for a metric model (``metres = v / 1000``, as a depth camera records), the
normalised index for a relative one (``stream.export.sidecar``).

Each frame keeps its source timestamp (``pts`` in ``time_base``), so the depth video lines
up with the source frame by frame; frames without one are placed by count at ``fps``.
Matroska stores times in milliseconds, as it does for any video. Unlike the preview video
this file is not crash-safe: it is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stream.core.frames import DepthFrame, Frame, Normalised
from stream.core.media import ffmpeg_name
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.export.base import DepthFileSink
from stream.export.sidecar import sidecar_path, sidecar_text, uint16_depth, values_text


class Ffv1DepthSink(DepthFileSink):
    """``.mkv``: millimetres or the normalised index as FFV1 ``gray16le`` (bit-exact), per frame facts in ``PATH.json``."""

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        super().__init__(path)
        self.rate = Fraction(fps if fps and fps > 0 else 30.0).limit_denominator(1001)
        self.container: Any = None
        self.stream: Any = None
        self.entries: list[dict[str, Any]] = []
        self.model: ModelInfo = MIDAS_SMALL
        self._last_pts: int | None = None

    def _open(self, frame: Frame) -> None:
        import av

        time_base = Fraction(frame.time_base) if frame.time_base is not None else 1 / self.rate
        self.container = av.open(ffmpeg_name(self.staged.path_for(self.path)), mode="w", format="matroska")
        self.stream = self.container.add_stream("ffv1", rate=self.rate)
        self.stream.width, self.stream.height = frame.width, frame.height
        self.stream.pix_fmt = "gray16le"
        self.stream.time_base = time_base

    def _pts(self, frame: Frame) -> int:
        """The source's timestamp on this stream's clock, nudged forward if it repeats."""
        time_base = self.stream.time_base
        if frame.pts is not None and frame.time_base is not None:
            pts = round(frame.pts * Fraction(frame.time_base) / time_base)
        else:
            pts = round(self.frames_written / self.rate / time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        import av

        if self.container is None:
            self._open(item.frame)
        self.model = item.model
        values, entry = uint16_depth(item, normalised)
        picture = av.VideoFrame.from_ndarray(values, format="gray16le")
        picture.pts = self._pts(item.frame)
        picture.time_base = self.stream.time_base
        for packet in self.stream.encode(picture):
            self.container.mux(packet)
        self.entries.append(entry)

    def _finish(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.container = None
        storage = f"FFV1 gray16le in Matroska, frame i = frames[i], {values_text(self.model)}"
        self.staged.path_for(sidecar_path(self.path)).write_text(sidecar_text(self.entries, storage, self.model))

    def _release(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - already failing; the temporary file goes next
                pass
            self.container = None


def mean_write_ms(index: np.ndarray, path: Path, frames: int = 30, fps: float = 30.0) -> float:
    """Mean per-frame cost (ms) of writing ``index`` as FFV1 16-bit, flush and sidecar included (benchmark)."""
    normalised = Normalised(index.astype(np.float32), 0.0, 1.0)
    picture = np.zeros((*index.shape[:2], 3), np.uint8)
    start = time.perf_counter()
    with Ffv1DepthSink(path, fps) as sink:
        for number in range(frames):
            sink.write_depth(DepthFrame(Frame(picture, number, number, Fraction(1, round(fps))), index), normalised)
    return (time.perf_counter() - start) * 1e3 / frames
