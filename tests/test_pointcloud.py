"""Point clouds read back with a real PLY reader (plyfile): count, colours, finite positive depth, geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from plyfile import PlyData

from stream.export import write_pointcloud


def photo(height: int = 40, width: int = 60) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def disparity(height: int = 40, width: int = 60) -> np.ndarray:
    """Inverse depth rising to the right, with a patch of zeros (sky: infinitely far)."""
    d = np.tile(np.linspace(0.5, 50.0, width, dtype=np.float32), (height, 1))
    d[:5, :10] = 0.0
    return d


def read(path):
    vertex = PlyData.read(str(path))["vertex"]
    return vertex, np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)


def test_every_pixel_becomes_a_point_with_its_colour(tmp_path) -> None:
    image, depth = photo(), disparity()
    count = write_pointcloud(tmp_path / "c.ply", image, depth, fov_deg=60, drop_flying=False)
    vertex, xyz = read(tmp_path / "c.ply")
    assert count == len(vertex) == 40 * 60
    rgb = image[..., ::-1].reshape(-1, 3)  # the photo is BGR; PLY colours are red green blue, row by row
    got = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1)
    np.testing.assert_array_equal(got, rgb)
    assert vertex["x"].dtype == np.float32 and vertex["red"].dtype == np.uint8
    z = xyz[:, 2]
    assert np.all(np.isfinite(xyz)) and np.all(z > 0)
    flat = depth.reshape(-1)
    order = np.argsort(flat, kind="stable")
    assert np.all(np.diff(z[order]) <= 1e-6)  # nearer (larger inverse depth) -> smaller z
    assert z.max() <= 100.0 + 1e-3 and math.isclose(z.min(), 1.0, rel_tol=1e-6)  # far plane clamped


def test_header_is_the_standard_binary_one(tmp_path) -> None:
    write_pointcloud(tmp_path / "c.ply", photo(4, 5), disparity(4, 5), drop_flying=False)
    head = (tmp_path / "c.ply").read_bytes().split(b"end_header\n")[0].decode().splitlines()
    assert head[:2] == ["ply", "format binary_little_endian 1.0"]
    assert "element vertex 20" in head
    props = [line for line in head if line.startswith("property")]
    assert props == ["property float x", "property float y", "property float z",
                     "property uchar red", "property uchar green", "property uchar blue"]


@pytest.mark.parametrize("fov", [30.0, 60.0, 90.0])
def test_pinhole_uses_the_horizontal_field_of_view(tmp_path, fov) -> None:
    depth = np.full((30, 41), 7.0, np.float32)
    write_pointcloud(tmp_path / "c.ply", photo(30, 41), depth, fov_deg=fov, drop_flying=False)
    _, xyz = read(tmp_path / "c.ply")
    half_angle = math.atan(np.max(xyz[:, 0] / xyz[:, 2]) * 41 / 40)  # (W-1)/2 from the centre -> W/2 at the edge
    assert math.isclose(math.degrees(2 * half_angle), fov, rel_tol=1e-4)
    assert np.allclose(xyz[:, 2], 1.0)  # a flat wall: one depth


def test_flying_pixels_on_a_depth_edge_are_dropped(tmp_path) -> None:
    import cv2

    depth = np.full((60, 80), 2.0, np.float32)
    depth[20:40, 30:50] = 20.0  # a near square before a far wall, 10x the disparity
    depth = cv2.GaussianBlur(depth, (0, 0), 1.5)  # the smear an upsampled network output has at edges
    image = photo(60, 80)
    kept = write_pointcloud(tmp_path / "kept.ply", image, depth, drop_flying=False)
    dropped = write_pointcloud(tmp_path / "dropped.ply", image, depth, drop_flying=True)
    _, all_points = read(tmp_path / "kept.ply")
    _, clean = read(tmp_path / "dropped.ply")
    assert kept == 60 * 80 and 0 < dropped < kept
    z_near, z_far = 1.0, 10.0
    between = lambda z: (z > z_near * 1.1) & (z < z_far / 1.1)  # noqa: E731
    assert between(all_points[:, 2]).sum() > 50  # the smear is there without the option
    assert between(clean[:, 2]).sum() == 0  # and gone with it
    assert dropped > 0.8 * kept  # only the edges go


def test_step_subsamples_and_bad_depth_stays_finite(tmp_path) -> None:
    depth = disparity()
    depth[9, 9] = np.nan
    depth[12, 12] = -3.0
    depth[15, 15] = np.inf
    count = write_pointcloud(tmp_path / "c.ply", photo(), depth, drop_flying=False, step=3)
    _, xyz = read(tmp_path / "c.ply")
    assert count == len(xyz) == math.ceil(40 / 3) * math.ceil(60 / 3)
    assert np.all(np.isfinite(xyz)) and np.all(xyz[:, 2] > 0)
    assert xyz[:, 2].max() > 10 * xyz[:, 2].min()  # one bad pixel does not flatten the cloud
    write_pointcloud(tmp_path / "flat.ply", photo(), np.zeros((40, 60), np.float32), drop_flying=True)
    _, flat = read(tmp_path / "flat.ply")
    assert len(flat) == 40 * 60 and np.all(flat[:, 2] == 1.0)


def test_size_mismatch_is_refused_and_nothing_is_written(tmp_path) -> None:
    with pytest.raises(ValueError, match="differ in size"):
        write_pointcloud(tmp_path / "c.ply", photo(10, 10), disparity(), drop_flying=False)
    assert list(tmp_path.iterdir()) == []
