"""A photo and its depth as a coloured point cloud: binary PLY that Open3D, MeshLab and Blender open.

A metric model gives metres: z is the depth itself, so a wall 2 m away is 2 m away in the
viewer (pixels without depth, NaN or not positive, are left out). MiDaS gives relative
inverse depth (disparity, larger = nearer), known up to a scale and a shift, so the cloud's
shape is right only up to those: z = 1 / disparity, scaled so the nearest point is at z = 1.
Disparity near zero (sky, far walls) would put points at infinity, so it is clamped to a
floor first (the larger of its 1st percentile and 1% of its maximum): the far plane sits at
most 100x the nearest point. The PLY's header comments say which (metres, or an arbitrary
scale) and name the model. Camera: a pinhole with horizontal field of view ``fov_deg`` and
square pixels, OpenCV axes (x right, y down, z forward). Pixels on depth edges, interpolated
between the near and the far surface ("flying pixels"), can be dropped: a pixel whose depth
differs from a neighbour's by more than ``FLYING_JUMP`` (relative) is left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.core.staging import write_bytes_atomically

FLOOR_PERCENTILE = 1.0
FLOOR_OF_MAX = 0.01
FLYING_JUMP = 0.05  # |ln z - ln z_neighbour|: a 5% jump between neighbouring pixels

VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])


def distance_from_disparity(disparity: np.ndarray) -> np.ndarray:
    """z (nearest = 1, all finite and positive) from relative inverse depth, clamped below."""
    d = np.nan_to_num(np.asarray(disparity, np.float64), nan=0.0, posinf=0.0, neginf=0.0)  # unknown = far
    top = float(np.max(d)) if d.size else 0.0
    if top <= 0:
        return np.ones(d.shape, np.float64)  # no usable disparity: a flat picture at z = 1
    floor = max(float(np.percentile(d, FLOOR_PERCENTILE)), FLOOR_OF_MAX * top)
    return top / np.clip(d, floor, top)


def distance_in_metres(metres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z in metres (the depth itself) and where it is usable (finite and positive); unusable z is NaN."""
    z = np.asarray(metres, np.float64)
    usable = np.isfinite(z) & (z > 0)
    return np.where(usable, z, np.nan), usable


def flying_pixels(z: np.ndarray, jump: float = FLYING_JUMP) -> np.ndarray:
    """True where a pixel's depth jumps by more than ``jump`` (relative) to one of its 4 neighbours (NaN: never)."""
    log_z = np.log(z)
    mask = np.zeros(z.shape, bool)
    dx = np.abs(np.diff(log_z, axis=1)) > jump
    dy = np.abs(np.diff(log_z, axis=0)) > jump
    mask[:, 1:] |= dx
    mask[:, :-1] |= dx
    mask[1:, :] |= dy
    mask[:-1, :] |= dy
    return mask


def point_cloud(image_bgr: np.ndarray, depth: np.ndarray, fov_deg: float = 60.0, drop_flying: bool = True,
                step: int = 1, model: ModelInfo = MIDAS_SMALL) -> np.ndarray:
    """Vertices (x y z float32, red green blue uint8) of every ``step``-th pixel, row by row (metres for a metric ``model``)."""
    height, width = depth.shape[:2]
    if image_bgr.shape[:2] != (height, width):
        raise ValueError(f"picture {image_bgr.shape[1]}x{image_bgr.shape[0]} and depth {width}x{height} differ in size")
    if model.is_metric:
        z, keep = distance_in_metres(depth)
    else:
        z, keep = distance_from_disparity(depth), np.ones(depth.shape[:2], bool)
    if drop_flying:
        keep &= ~flying_pixels(z)
    rows, cols = np.mgrid[0:height:step, 0:width:step]
    z, keep, colours = z[::step, ::step], keep[::step, ::step], image_bgr[::step, ::step]
    focal = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    vertices = np.empty(int(keep.sum()), VERTEX)
    vertices["z"] = z[keep]
    vertices["x"] = (cols[keep] - (width - 1) / 2) * z[keep] / focal
    vertices["y"] = (rows[keep] - (height - 1) / 2) * z[keep] / focal
    for channel, name in enumerate(("blue", "green", "red")):
        vertices[name] = colours[..., channel][keep]
    return vertices


def cloud_comments(model: ModelInfo = MIDAS_SMALL, fov_deg: float | None = None) -> list[str]:
    """The header comments: what the coordinates' unit is, the model, the camera."""
    if model.is_metric:
        what = "depth-stream point cloud: metric depth, x y z in metres (camera at the origin)"
    else:
        what = "depth-stream point cloud: relative depth, arbitrary scale (nearest point at z = 1, not metres)"
    camera = "OpenCV axes (x right, y down, z forward)"
    if fov_deg is not None:
        camera = f"pinhole, horizontal field of view {fov_deg:g} deg, {camera}"
    return [what, f"model {model.name}", f"camera {camera}"]


def ply_bytes(vertices: np.ndarray, comments: list[str] | None = None) -> bytes:
    """A binary little-endian PLY of ``vertices`` (the standard header every viewer reads), with ``cloud_comments``."""
    header = "\n".join([
        "ply",
        "format binary_little_endian 1.0",
        *(f"comment {text}" for text in (comments if comments is not None else cloud_comments())),
        f"element vertex {len(vertices)}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
        "end_header",
    ]) + "\n"
    return header.encode("ascii") + np.ascontiguousarray(vertices, VERTEX).tobytes()


def write_pointcloud(path: Path, image_bgr: np.ndarray, depth: np.ndarray, fov_deg: float = 60.0,
                     drop_flying: bool = True, step: int = 1, model: ModelInfo = MIDAS_SMALL) -> int:
    """Write the coloured cloud of ``image_bgr`` + ``depth`` (``model``'s output: metres, or raw or normalised
    inverse depth) to ``path``.

    Written under a temporary name and renamed when complete. Returns the number of points.
    """
    vertices = point_cloud(image_bgr, depth, fov_deg, drop_flying, step, model)
    write_bytes_atomically(Path(path), ply_bytes(vertices, cloud_comments(model, fov_deg)))
    return len(vertices)
