"""Depth you can keep: raw and 16-bit depth files, and coloured point clouds.

``--depth-output PATH`` picks a writer by its extension from ``DEPTH_FORMATS`` (``registry``;
``factory`` builds it): ``.png`` (16-bit), ``.npy`` / ``.pfm`` (raw float32) for a photo
(``images``, ``pfm``); ``.mkv`` (FFV1 16-bit, ``video``), a folder of 16-bit PNGs or ``.npz``
(``sequence``) for a video; and any format registered there. 16-bit files
store the normalised index, and their sidecar (``sidecar``) the mapping back to raw values;
for a metric model they store millimetres, and raw files float32 metres (each writer reads
what the depth is from ``DepthFrame.model``). ``--pointcloud PATH.ply`` and the window's ``p``
key write a binary PLY (``pointcloud``), in metres for a metric model.
Every writer is a ``DepthSink`` and a context manager; every file is written under a
temporary name and renamed when complete (``stream.core.staging``). ``checks`` refuses bad paths
before any work.
"""

from __future__ import annotations

from stream.export.base import DepthFileSink
from stream.export.checks import check_paths, check_source, depth_output_files
from stream.export.factory import PointCloudSink, depth_format, make_depth_sink
from stream.export.pfm import read_pfm
from stream.export.pointcloud import point_cloud, write_pointcloud
from stream.export.registry import DEPTH_FORMATS, DepthFormat, one_frame_formats
from stream.export.sidecar import RECOVER, sidecar_path

__all__ = [
    "DEPTH_FORMATS", "RECOVER", "DepthFileSink", "DepthFormat", "PointCloudSink", "check_paths", "check_source", "depth_format",
    "depth_output_files", "make_depth_sink", "one_frame_formats", "point_cloud", "read_pfm", "sidecar_path", "write_pointcloud",
]
