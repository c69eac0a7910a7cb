"""Two outputs of one run on one file: refused before any work, never one silently replacing the other.

Every file a run writes (``--output``, ``--depth-output`` and its ``.json`` sidecar,
``--pointcloud``, the probe CSV) is compared with every other and with the inputs, through any
spelling; a folder of photos compares each photo's files with every other photo's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stream import launch


def in_process(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, list[str]]:
    """``run_stream.py ARGS --headless -q`` in this process: (exit code, stderr lines)."""
    code = launch.main([*map(str, args), "--headless", "-q", "--engine", "onnxruntime", "--precision", "fp32",
                        "--threads", "1", "--set", "display.progress=false"])
    return code, capsys.readouterr().err.strip().splitlines()


def photo(path: Path) -> Path:
    cv2.imwrite(str(path), np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("flags,first,second", [
    (["--output", "same.png", "--depth-output", "same.png"], "--output same.png", "--depth-output same.png"),
    (["--output", "same.png", "--depth-output", "./sub/../same.png"], "--output same.png", "--depth-output"),
    (["--output", "o.png", "--depth-output", "d.png", "--probe", "1,1", "--probe-csv", "d.png"],
     "--depth-output d.png", "--probe-csv d.png"),
    (["--output", "o.png", "--depth-output", "d.png", "--probe", "1,1", "--probe-csv", "d.png.json"],
     "--depth-output's sidecar d.png.json", "--probe-csv d.png.json"),
    (["--output", "o.png", "--pointcloud", "c.ply", "--probe", "1,1", "--probe-csv", "c.ply"], "--pointcloud c.ply", "--probe-csv c.ply"),
])
def test_two_outputs_on_one_file_are_refused_before_any_work(tmp_path, random_onnx, capsys, monkeypatch, flags, first,
                                                            second) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    source = photo(tmp_path / "in.png")
    code, lines = in_process(capsys, "--source", source, "--model", random_onnx, *flags)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert first in lines[0] and second in lines[0] and "same file" in lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.png", "sub"]  # nothing written


def test_photos_sharing_a_name_are_refused_before_one_depth_replaces_the_other(tmp_path, random_onnx, capsys) -> None:
    """``a.jpg`` and ``a.png`` keep their own pictures but would share ``DEPTH/a.png`` (and its sidecar)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "a.png"):
        photo(photos / name)
    out, depth = tmp_path / "out", tmp_path / "depth"
    out.mkdir()
    depth.mkdir()
    code, lines = in_process(capsys, "--source", photos, "--output", out, "--depth-output", f"{depth}/", "--model", random_onnx)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "a.jpg" in lines[0] and "a.png" in lines[0] and str(depth / "a.png") in lines[0] and "distinct names" in lines[0]
    assert list(out.iterdir()) == [] and list(depth.iterdir()) == []
