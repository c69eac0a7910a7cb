"""Real-world footage through the whole app, judged on the output file a user would open.

The source side is tested piece by piece in ``test_footage_sources.py`` and the writer in
``test_sink_*.py``; here the two meet: a phone clip comes out upright, an HTTP file is
processed once with its sound, an HD clip keeps its colours in an independent decoder
(the ffmpeg CLI), an image sequence becomes a video at its frame rate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.config.settings import load_settings
from stream.runtime.run import run
from tests.footage import (
    centres,
    colour_clip,
    ffmpeg_has_filters,
    ffmpeg_sdr,
    hdr_clip,
    image_sequence,
    patch_centres,
    rotated_clip,
    upright,
)
from tests.media import make_video, pattern_frame, read_video, serve_directory

ROOT = Path(__file__).resolve().parents[1]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe are not installed")


def settings_for(source: str, model: Path, output: Path, **extra):
    overrides = {"source": source, "output": output, "headless": True, "model": {"onnx": model, "threads": 2},
                 "display": {"progress": False, "overlay": False}, **extra}
    return load_settings(ROOT / "config.yaml", overrides)


def ffprobe_video(path: Path) -> dict:
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", str(path)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["streams"][0]


@needs_ffmpeg
def test_phone_clip_comes_out_upright_without_a_rotation_tag(tmp_path, random_onnx) -> None:
    clip = rotated_clip(tmp_path / "portrait.mp4", 90, width=96, height=64, frames=3)
    out = tmp_path / "out.mp4"
    assert run(settings_for(str(clip), random_onnx, out)).exit_code == 0
    frames = read_video(out)[0]
    assert len(frames) == 3 and frames[0].shape[:2] == (96, 2 * 64)  # portrait picture | portrait depth
    expected = upright(pattern_frame(1, 96, 64), 90)
    assert np.abs(frames[1][:, :64].astype(int) - expected.astype(int)).mean() < 8
    stream = ffprobe_video(out)
    rotations = [d.get("rotation", 0) for d in stream.get("side_data_list", [])]
    assert not any(rotations) and stream.get("tags", {}).get("rotate") in (None, "0")


def test_http_file_is_processed_once_with_its_audio(tmp_path, random_onnx) -> None:
    make_video(tmp_path / "talk.mp4", 96, 64, 20, fps=20, audio=True)
    out = tmp_path / "out.mkv"
    with serve_directory(tmp_path) as base:
        result = run(settings_for(f"{base}/talk.mp4", random_onnx, out))
    assert result.exit_code == 0 and not result.live
    assert result.stats.captured == 20 and result.stats.dropped == 0
    frames, fps, has_audio, _ = read_video(out)
    assert len(frames) == 20 and fps == 20 and has_audio


@needs_ffmpeg
def test_hd_colours_survive_the_round_trip_in_an_independent_decoder(tmp_path, random_onnx) -> None:
    clip = colour_clip(tmp_path / "hd.mp4", 1280, 720, "bt709", tagged=False)  # untagged HD: BT.709 by convention
    out = tmp_path / "out.mp4"
    assert run(settings_for(str(clip), random_onnx, out)).exit_code == 0
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                         capture_output=True, check=True).stdout
    picture = np.frombuffer(raw, np.uint8).reshape(720, 2560, 3)[:, :1280]
    errors = [np.abs(np.array(expected) - got).max() for expected, got in patch_centres(picture)]
    assert max(errors) <= 6, errors
    stream = ffprobe_video(out)
    assert (stream["color_space"], stream["color_primaries"], stream["color_transfer"], stream["color_range"]) == (
        "bt709", "bt709", "bt709", "tv")


@pytest.mark.skipif(not ffmpeg_has_filters("zscale", "tonemap") or "libx265" not in av.codecs_available,
                    reason="needs libx265 in PyAV and ffmpeg with zscale and tonemap")
def test_hdr_phone_clip_is_shown_and_written_as_sdr_and_the_startup_line_says_so(tmp_path, random_onnx, caplog) -> None:
    clip = hdr_clip(tmp_path / "phone.mp4", "pq", frames=3)
    out = tmp_path / "out.mp4"
    with caplog.at_level("INFO", logger="stream"):
        assert run(settings_for(str(clip), random_onnx, out)).exit_code == 0
    assert "HDR (PQ, BT.2020, 10-bit) converted to SDR BT.709 (Hable tone map from 1000 nits)" in caplog.text
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                         capture_output=True, check=True).stdout
    picture = np.frombuffer(raw, np.uint8).reshape(192, 384, 3)[:, :192]
    errors = np.abs(centres(picture) - centres(ffmpeg_sdr(clip, 192, 192)))
    assert errors.max() <= 8, errors  # the tone-mapped picture, through one H.264 encode (decoded as SDR: up to 77)


def test_image_sequence_becomes_a_video_at_its_rate(tmp_path, random_onnx) -> None:
    pattern = image_sequence(tmp_path / "frames", 12)
    out = tmp_path / "out.mp4"
    assert run(settings_for(pattern, random_onnx, out)).exit_code == 0
    frames, fps, _, _ = read_video(out)
    assert len(frames) == 12 and fps == Fraction(25)  # --fps not given: 25
    assert np.abs(frames[7][:, :96].astype(int) - pattern_frame(7, 96, 64).astype(int)).mean() < 6
    faster = tmp_path / "out10.mp4"
    assert run(settings_for(pattern, random_onnx, faster, capture={"fps": 10})).exit_code == 0
    assert read_video(faster)[1] == Fraction(10)
