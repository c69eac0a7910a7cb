"""From ``export.*`` settings to depth writers: which ``DEPTH_FORMATS`` entry a path asks for, and the point-cloud sink."""

from __future__ import annotations

from pathlib import Path

from stream.core.frames import DepthFrame, Normalised
from stream.export.base import DepthFileSink
from stream.export.pointcloud import cloud_comments, ply_bytes, point_cloud
from stream.export.registry import DEPTH_FORMATS, FOLDER


def depth_format(path: Path) -> str:
    """The path's lower-case extension (a ``DEPTH_FORMATS`` key if known), or ``"folder"`` (an existing
    folder or a name without extension)."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return FOLDER
    return path.suffix.lower()


class PointCloudSink(DepthFileSink):
    """``--pointcloud PATH.ply``: the coloured cloud of the frame (for a photo: the only one), in metres for a metric model."""

    flag = "--pointcloud"

    def __init__(self, path: Path, fov_deg: float = 60.0, drop_flying: bool = True, step: int = 1) -> None:
        super().__init__(path)
        self.fov_deg, self.drop_flying, self.step = fov_deg, drop_flying, step

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        vertices = point_cloud(item.frame.image, item.depth, self.fov_deg, self.drop_flying, self.step, item.model)
        self.staged.path_for(self.path).write_bytes(ply_bytes(vertices, cloud_comments(item.model, self.fov_deg)))


def make_depth_sink(path: Path, fps: float) -> DepthFileSink:
    """The writer for ``--depth-output PATH`` (the path was checked before the run)."""
    return DEPTH_FORMATS.get(depth_format(path)).make(Path(path), fps)
