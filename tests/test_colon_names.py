"""File names with a colon (``take:2.mp4``, common in exported clips) are files, never FFmpeg protocols.

FFmpeg reads the text before a colon as a protocol name; the app hands it absolute paths, so
a clip called ``take:2.mp4`` is read, and ``out:1.mp4`` is written, like any other file.
"""

from __future__ import annotations

from pathlib import Path

import av

from stream.config.settings import load_settings
from stream.runtime.run import run
from tests.media import make_video, read_video

ROOT = Path(__file__).resolve().parents[1]


def test_a_clip_named_take_2_is_read_and_out_1_is_written_with_its_sound(tmp_path, random_onnx, monkeypatch) -> None:
    make_video(tmp_path / "plain.mp4", 64, 48, 8, fps=10, audio=True).rename(tmp_path / "take:2.mp4")
    monkeypatch.chdir(tmp_path)  # relative names, as typed in a shell
    settings = load_settings(ROOT / "config.yaml", {
        "source": "take:2.mp4", "output": "out:1.mp4", "headless": True, "model": {"onnx": random_onnx, "threads": 2},
        "export": {"depth_output": "depth:1.mkv"}, "display": {"progress": False}})
    result = run(settings)
    assert result.exit_code == 0
    frames, _, has_audio, _ = read_video(tmp_path / "out:1.mp4")
    assert len(frames) == 8 and frames[0].shape[:2] == (48, 128)
    assert has_audio  # the source's sound, read from take:2.mp4 too
    with av.open(str(tmp_path / "depth:1.mkv")) as depth:
        assert sum(1 for _ in depth.decode(video=0)) == 8


def test_a_photo_named_with_a_colon_is_a_photo(tmp_path, random_onnx, monkeypatch) -> None:
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "shot:1.png"), np.full((48, 64, 3), 120, np.uint8))
    monkeypatch.chdir(tmp_path)
    settings = load_settings(ROOT / "config.yaml", {
        "source": "shot:1.png", "output": "side:1.mp4", "headless": True, "model": {"onnx": random_onnx, "threads": 2},
        "display": {"progress": False}})
    assert run(settings).exit_code == 0
    assert len(read_video(tmp_path / "side:1.mp4")[0]) == 1
