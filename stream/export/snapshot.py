"""The window's ``p`` key: the frame on screen as a coloured point cloud, beside the snapshots.

The display thread keeps the newest frame and its depth here (a ``DepthSink``, one slot,
one lock); the main thread, which owns the window and its keys, writes the PLY when asked.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from stream.core.frames import DepthFrame, Normalised
from stream.core.media import snapshot_name
from stream.core.modelinfo import MIDAS_SMALL
from stream.export.pointcloud import write_pointcloud

log = logging.getLogger(__name__)


class LatestCloud:
    """Holds the newest (frame, depth) and saves it as ``<folder>/depth-<time>-<n>.ply`` on request (``snapshot_name``)."""

    def __init__(self, folder: Path, fov_deg: float = 60.0, drop_flying: bool = True, step: int = 1) -> None:
        self.folder = Path(folder)
        self.fov_deg, self.drop_flying, self.step = fov_deg, drop_flying, step
        self.saved: list[Path] = []
        self._item: DepthFrame | None = None
        self._lock = threading.Lock()

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        with self._lock:
            self._item = item

    def close(self) -> None:
        pass

    def save(self) -> Path | None:
        """Write the newest frame's cloud; a failure is logged, not fatal (the run goes on)."""
        with self._lock:
            item = self._item
        if item is None:
            return None
        path = self.folder / snapshot_name(".ply")
        model = getattr(item, "model", MIDAS_SMALL)  # what the depth is (metres: a metric cloud); a bare pair is relative
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            points = write_pointcloud(path, item.frame.image, item.depth, self.fov_deg, self.drop_flying, self.step, model)
        except OSError as exc:
            log.warning("could not save point cloud %s: %s", path, exc)
            return None
        self.saved.append(path)
        log.info("saved point cloud %s (%d points)", path, points)
        return path
