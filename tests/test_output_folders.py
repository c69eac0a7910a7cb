"""One rule for every output's folder: a missing one is made, and one line says so.

``--output`` used to be refused ("folder ... does not exist") where a photo folder's outputs
were made without a word; now each flag makes its folder and names it once.
"""

from __future__ import annotations

import logging

import av
import cv2
import numpy as np

from stream import launch
from tests.media import read_video


def created_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("created folder")]


def test_missing_folders_of_every_output_are_made_and_said_once(tmp_path, random_onnx, caplog) -> None:
    caplog.set_level(logging.INFO, logger="stream")
    out, depth, csv = tmp_path / "a" / "b" / "out.mp4", tmp_path / "d" / "depth.mkv", tmp_path / "p" / "probe.csv"
    code = launch.main(["--source", "synthetic:64x48", "--max-frames", "3", "--headless", "--model", str(random_onnx),
                        "--output", str(out), "--depth-output", str(depth), "--probe", "1,1", "--probe-csv", str(csv),
                        "--set", "display.progress=false"])
    assert code == 0
    assert len(read_video(out)[0]) == 3
    with av.open(str(depth)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert len(csv.read_text().splitlines()) == 4
    assert sorted(created_lines(caplog)) == sorted([f"created folder {out.parent} for --output",
                                                    f"created folder {depth.parent} for --depth-output",
                                                    f"created folder {csv.parent} for --probe-csv"])


def test_a_photos_point_cloud_folder_is_made_and_said(tmp_path, random_onnx, caplog) -> None:
    caplog.set_level(logging.INFO, logger="stream")
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 90, np.uint8))
    cloud = tmp_path / "clouds" / "photo.ply"
    code = launch.main(["--source", str(photo), "--headless", "--model", str(random_onnx), "--pointcloud", str(cloud),
                        "--output", str(tmp_path / "side" / "photo.png"), "--set", "display.progress=false"])
    assert code == 0
    assert cloud.read_bytes().startswith(b"ply") and (tmp_path / "side" / "photo.png").is_file()
    assert sorted(created_lines(caplog)) == sorted([f"created folder {cloud.parent} for --pointcloud",
                                                    f"created folder {tmp_path / 'side'} for --output"])
