"""Depth exports through the app, as a user runs them: files in, depth files and point clouds out, bad paths refused."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from plyfile import PlyData

from stream.engines.onnxruntime import OnnxRuntimeEstimator
from stream.runtime.run import run
from stream.sources import SourceOptions, open_source
from tests.media import make_video
from tests.test_app import cli, settings_for


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * f.time_base) for f in container.decode(stream)]


def first_frame(path: Path) -> np.ndarray:
    with open_source(str(path), SourceOptions()) as source:
        frame = source.read()
        assert frame is not None
        return frame.image


def test_video_depth_mkv_has_the_source_frames_and_timestamps(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "in.mp4", 96, 64, 12, fps=24)
    depth = tmp_path / "depth.mkv"
    result = run(settings_for(str(clip), random_onnx, export={"depth_output": depth}))
    assert result.exit_code == 0
    source_times = frame_times(clip)
    with av.open(str(depth)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == len(source_times) == 12
    assert all(f.format.name == "gray16le" and (f.width, f.height) == (96, 64) for f in frames)
    np.testing.assert_allclose([float(f.pts * f.time_base) for f in frames], source_times, atol=1e-3)
    sidecar = json.loads((tmp_path / "depth.mkv.json").read_text())["frames"]
    assert [e["frame"] for e in sidecar] == list(range(12))
    np.testing.assert_allclose([e["seconds"] for e in sidecar], source_times, atol=1e-6)


def test_photo_like_run_keeps_the_raw_model_depth_and_its_point_cloud(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "one.mp4", 80, 60, 1, fps=10)
    raw, cloud = tmp_path / "depth.npy", tmp_path / "cloud.ply"
    settings = settings_for(str(clip), random_onnx, export={"depth_output": raw, "pointcloud": cloud, "drop_flying_pixels": False})
    assert run(settings).exit_code == 0
    image = first_frame(clip)
    expected = OnnxRuntimeEstimator(random_onnx, threads=2).predict(image)
    got = np.load(raw)
    assert got.dtype == np.float32 and got.shape == (60, 80)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    vertex = PlyData.read(str(cloud))["vertex"]
    assert len(vertex) == 60 * 80
    np.testing.assert_array_equal(np.stack([vertex["blue"], vertex["green"], vertex["red"]], axis=1), image.reshape(-1, 3))
    assert np.all(np.isfinite(vertex["z"])) and np.all(vertex["z"] > 0)


def test_max_frames_1_allows_a_png_of_a_video_and_npz_and_folders_take_every_frame(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 6, fps=12)
    assert run(settings_for(str(clip), random_onnx, max_frames=1, export={"depth_output": tmp_path / "d.png"})).exit_code == 0
    assert (tmp_path / "d.png").exists() and (tmp_path / "d.png.json").exists()
    assert run(settings_for(str(clip), random_onnx, export={"depth_output": tmp_path / "d.npz"})).exit_code == 0
    with np.load(tmp_path / "d.npz") as data:
        assert data["depth"].shape == (6, 48, 64) and data["frame"].tolist() == list(range(6))
        np.testing.assert_allclose(data["seconds"], frame_times(clip), atol=1e-6)
    assert run(settings_for(str(clip), random_onnx, export={"depth_output": tmp_path / "frames"})).exit_code == 0
    assert len(list((tmp_path / "frames").glob("depth_*.png"))) == 6
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left anywhere


@pytest.mark.parametrize("flags,expected", [
    (("--depth-output", "{tmp}/depth.jpg"), "unknown extension '.jpg'"),
    (("--depth-output", "{tmp}/clip.mkv"), "same file as --source"),
    (("--pointcloud", "{tmp}/cloud.obj"), "not a .ply file name"),
    (("--pointcloud", "{tmp}/cloud.ply"), "--pointcloud {tmp}/cloud.ply needs a photo but the source is a video"),
    (("--depth-output", "{tmp}/depth.png"), "holds one picture but the source is a video"),
])
def test_bad_export_paths_are_one_line_before_any_work(tmp_path, flags, expected) -> None:
    clip = make_video(tmp_path / "clip.mkv", 64, 48, 5, fps=10)
    before = clip.read_bytes()
    args = [arg.format(tmp=tmp_path) for arg in flags]
    # a model that does not exist: the export check must come first, before any model work
    proc = cli("--source", str(clip), *args, "--model", str(tmp_path / "no-model.onnx"), "--headless")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected.format(tmp=tmp_path) in lines[0], lines
    assert args[0] in lines[0]
    assert clip.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]


def test_cli_writes_a_depth_video(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "in.mp4", 64, 48, 5, fps=10)
    proc = cli("--source", str(clip), "--depth-output", str(tmp_path / "d.mkv"), "--model", str(random_onnx), "--headless",
               "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(frame_times(tmp_path / "d.mkv")) == 5
