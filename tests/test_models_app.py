"""Every model through the app, as a user runs it: exported by the CLI, run on a video, photos, folders and batches.

Seeded random weights of each real architecture (the official ones cannot be downloaded here),
made and exported by the same code a user's official checkpoint goes through.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from plyfile import PlyData

from stream.launch import main
from stream.model.__main__ import main as model_main
from stream.model.registry import MODELS
from tests.conftest import torch_threads
from tests.media import make_video, read_video

ENGINE = ("--engine", "onnxruntime", "--precision", "fp32", "--threads", "1")


def photo(path: Path, width: int = 84, height: int = 56) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    cv2.imwrite(str(path), np.stack([x * 3, y * 4, x + y], axis=-1).astype(np.uint8))
    return path


@pytest.mark.parametrize("name", list(MODELS.names()))
def test_each_model_exported_by_the_cli_runs_a_video_every_frame_with_audio(tmp_path, name, caplog) -> None:
    onnx = tmp_path / f"{name}.onnx"
    with torch_threads(1):
        assert model_main(["export", "--model-name", name, "--random-seed", "0", "--output", str(onnx)]) == 0
    clip = make_video(tmp_path / "in.mp4", 112, 84, 8, fps=16, audio=True)
    out = tmp_path / "out.mp4"
    # --model alone: the file says which model it is, how to prepare its input and what its output means
    assert main(["--source", str(clip), "--model", str(onnx), "--output", str(out), "--headless", *ENGINE]) == 0
    frames, fps, has_audio, _ = read_video(out)
    assert len(frames) == 8 and fps == Fraction(16) and has_audio and frames[0].shape[:2] == (84, 224)
    assert frames[3][:, 112:].std() > 2.0  # a depth map, not a flat picture
    assert f"model: {MODELS.get(name).info.describe()}" in caplog.text  # the startup line names it and its unit


def test_a_metric_photo_reads_metres_everywhere(tmp_path, random_checkpoint_for, model_cache) -> None:
    """--model-name with a local checkpoint: the probe CSV, the 16-bit PNG and the point cloud agree, in metres."""
    name = "depth-anything-v2-small-indoor"
    picture = photo(tmp_path / "room.png")
    depth, cloud, probes = tmp_path / "depth.png", tmp_path / "room.ply", tmp_path / "probe.csv"
    code = main(["--source", str(picture), "--model-name", name, "--weights", str(random_checkpoint_for(name)),
                 "--cache-dir", str(model_cache), "--depth-output", str(depth), "--pointcloud", str(cloud),
                 "--probe", "20,30", "--probe-csv", str(probes), "--set", "export.drop_flying_pixels=false",
                 "--headless", "-q", *ENGINE])
    assert code == 0
    millimetres = cv2.imread(str(depth), cv2.IMREAD_UNCHANGED)
    assert millimetres.dtype == np.uint16 and millimetres.shape == (56, 84)
    assert millimetres.min() > 0 and millimetres.max() <= 20_000  # 0 < depth <= 20 m, in mm
    sidecar = json.loads((tmp_path / "depth.png.json").read_text())
    assert sidecar["unit"] == "mm" and sidecar["model"] == name

    header, row = probes.read_text().splitlines()[:2]
    assert header.split(",")[-1] == "x20_y30_m"
    assert float(row.split(",")[-1]) == pytest.approx(millimetres[30, 20] / 1000, abs=0.001)

    vertex = PlyData.read(str(cloud))["vertex"]
    z = np.asarray(vertex["z"])
    assert len(z) == 56 * 84 and np.all((z > 0) & (z <= 20.0))
    np.testing.assert_allclose(np.sort(z), np.sort(millimetres.ravel() / 1000), atol=0.001)


def test_a_photo_folder_takes_the_model_name(tmp_path, random_checkpoint_for, model_cache) -> None:
    name = "depth-anything-v2-small-outdoor"
    folder = tmp_path / "photos"
    folder.mkdir()
    for stem in ("a", "b"):
        photo(folder / f"{stem}.png")
    code = main(["--source", str(folder), "--model-name", name, "--weights", str(random_checkpoint_for(name)),
                 "--cache-dir", str(model_cache), "--output", str(tmp_path / "out") + "/", "--depth-output",
                 str(tmp_path / "depth") + "/", "--headless", "-q", *ENGINE])
    assert code == 0
    for stem in ("a", "b"):
        assert cv2.imread(str(tmp_path / "out" / f"{stem}.png")).shape == (56, 168, 3)
        millimetres = cv2.imread(str(tmp_path / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert millimetres.dtype == np.uint16 and millimetres.min() > 0 and millimetres.max() <= 65_535
        assert json.loads((tmp_path / "depth" / f"{stem}.png.json").read_text())["model"] == name


def test_a_model_file_contradicting_model_name_is_one_line(tmp_path, random_onnx, capsys) -> None:
    code = main(["--source", "synthetic:64x48", "--max-frames", "1", "--model", str(random_onnx),
                 "--model-name", "depth-anything-v2-small", "--headless", *ENGINE])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "holds midas-small, not the depth-anything-v2-small" in lines[0] and "drop --model-name" in lines[0]


def test_midas_weights_for_a_depth_anything_name_are_refused(tmp_path, random_weights, model_cache, capsys) -> None:
    code = main(["--source", "synthetic:64x48", "--max-frames", "1", "--model-name", "depth-anything-v2-small-indoor",
                 "--weights", str(random_weights), "--cache-dir", str(model_cache), "--headless", *ENGINE])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "MiDaS v2.1 small" in lines[0] and "depth-anything-v2-small-indoor" in lines[0]
