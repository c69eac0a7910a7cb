"""The whole app, as a user runs it: files in, annotated videos out, decoded back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stream.config.settings import load_settings
from stream.runtime.run import run
from tests.media import make_video, read_video, serve_directory

ROOT = Path(__file__).resolve().parents[1]


def settings_for(source: str, model: Path, **extra):
    overrides = {"source": source, "headless": True, "model": {"onnx": model, "threads": 2}, "display": {"progress": False}}
    for key, value in extra.items():
        overrides[key] = value
    return load_settings(ROOT / "config.yaml", overrides)


def test_file_mode_output_matches_input(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "in.mp4", 160, 120, 24, fps=24, audio=True)
    out = tmp_path / "out.mp4"
    settings = settings_for(str(clip), random_onnx, output=out, display={"overlay": False, "progress": False})
    result = run(settings)
    assert result.exit_code == 0 and result.stats.dropped == 0
    source_frames, source_fps, _, source_audio = read_video(clip)
    frames, fps, has_audio, audio_codec = read_video(out)
    assert len(frames) == len(source_frames) == 24
    assert fps == source_fps == Fraction(24)
    assert abs(frames[0].shape[1] - 2 * 160) <= 1 and frames[0].shape[0] == 120
    assert has_audio and audio_codec == source_audio
    for got, expected in zip(frames, source_frames):
        error = np.abs(got[:, :160].astype(int) - expected.astype(int)).mean()
        assert error < 6.0  # H.264 at crf 23 twice; same picture, not a neighbour
    left = frames[5][:, :160].astype(int)
    assert np.abs(left - source_frames[6].astype(int)).mean() > np.abs(left - source_frames[5].astype(int)).mean()


@pytest.mark.parametrize("width,height,audio", [(176, 144, False), (640, 272, False), (1280, 720, True)])
def test_real_input_sizes(tmp_path, random_onnx, width, height, audio) -> None:
    clip = make_video(tmp_path / f"in{width}.mp4", width, height, 6, fps=30, audio=audio)
    out = tmp_path / "out.mkv"
    result = run(settings_for(str(clip), random_onnx, output=out))
    frames, fps, has_audio, _ = read_video(out)
    assert len(frames) == 6 and fps == 30
    assert frames[0].shape[0] in (height, height + 1) and abs(frames[0].shape[1] - 2 * width) <= 1
    assert has_audio == audio
    assert result.stats.displayed == 6


def test_synthetic_live_run_drops_and_stays_bounded(random_onnx) -> None:
    settings = settings_for("synthetic:320x240", random_onnx, mode="live", max_frames=90, capture={"fps": 120})
    result = run(settings)
    stats = result.stats
    assert stats.displayed == 90 and stats.dropped > 0 and stats.max_queue == 1  # --max-frames counts what is shown
    assert stats.captured == stats.displayed + stats.dropped


def test_network_stream_plays_through_live_pipeline(tmp_path, random_onnx) -> None:
    make_video(tmp_path / "net.mp4", 160, 120, 20, fps=20)
    out = tmp_path / "net-out.mp4"
    with serve_directory(tmp_path) as base:
        settings = settings_for(f"{base}/net.mp4", random_onnx, output=out, capture={"reconnect_attempts": 0})
        result = run(settings)
    assert result.stats.captured == 20 and result.stats.displayed > 0
    frames, _, _, _ = read_video(out)
    assert len(frames) == result.stats.displayed


def cli(*args: str, timeout: float = 120, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_stream.py"), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, **kwargs)


def test_cli_headless_file_run(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "cli.mp4", 96, 64, 10, fps=10)
    out = tmp_path / "cli-out.mp4"
    proc = cli("--source", str(clip), "--output", str(out), "--model", str(random_onnx), "--headless", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert "10 shown/written" in proc.stderr
    assert len(read_video(out)[0]) == 10


def test_cli_rejects_bad_config_key(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("capture:\n  widht: 640\n")
    proc = cli("--config", str(config), "--headless")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "capture.widht" in proc.stderr


def test_cli_missing_source(tmp_path, random_onnx) -> None:
    proc = cli("--source", str(tmp_path / "nope.mp4"), "--model", str(random_onnx), "--headless")
    assert proc.returncode == 2 and "nope.mp4" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finalizes_output(tmp_path, random_onnx, sig, code) -> None:
    clip = make_video(tmp_path / "long.mp4", 320, 240, 600, fps=30)
    out = tmp_path / "partial.mp4"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(clip), "--output", str(out), "--model", str(random_onnx), "--headless", "--threads", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.stat().st_size > 2000):
        time.sleep(0.1)
    proc.send_signal(sig)
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 4.0
    assert proc.returncode == code, stderr
    frames, fps, _, _ = read_video(out)
    assert 0 < len(frames) < 600 and fps == 30


def test_window_run_under_virtual_display(tmp_path, random_onnx, xvfb_display) -> None:
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    proc = cli("--source", "synthetic:160x120", "--model", str(random_onnx), "--max-frames", "15", "--threads", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "15 captured" in proc.stderr
    assert "QFont" not in proc.stderr and "QObject" not in proc.stderr and "Timers" not in proc.stderr, proc.stderr


def test_output_that_is_the_source_is_refused_before_anything_opens(tmp_path, random_onnx, monkeypatch) -> None:
    clip = make_video(tmp_path / "clip.mp4", 96, 64, 12, fps=12)
    before = clip.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    monkeypatch.chdir(tmp_path)
    for source, output in ((clip, clip), ("clip.mp4", "./clip.mp4"), (str(link), str(clip)), (f"file://{clip}", "clip.mp4")):
        proc = cli("--source", str(source), "--output", str(output), "--model", str(random_onnx), "--headless", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "same file as --source" in lines[0] and "choose another --output" in lines[0]
        assert clip.read_bytes() == before


def test_existing_output_is_replaced_after_a_notice(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "clip.mp4", 96, 64, 6, fps=12)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an older result")
    proc = cli("--source", str(clip), "--output", str(out), "--model", str(random_onnx), "--headless")
    assert proc.returncode == 0, proc.stderr
    assert f"note: {out} exists and will be replaced" in proc.stderr
    assert len(read_video(out)[0]) == 6


def test_summary_never_claims_an_output_that_was_not_written(tmp_path, random_onnx) -> None:
    import threading

    from stream.runtime.result import summary

    stop = threading.Event()
    stop.set()  # stopped before the first frame
    out = tmp_path / "never.mp4"
    result = run(settings_for("synthetic:64x48", random_onnx, output=out), cancel=stop)
    assert result.output is None and "wrote" not in summary(result)
    assert not out.exists()
    import signal
    from dataclasses import replace

    stopped = summary(replace(result, interrupted_by=signal.SIGINT))
    assert stopped.endswith("(stopped by SIGINT)") and "finalized" not in stopped  # nothing to finalize


def test_file_summary_reports_throughput_and_live_summary_latency(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "clip.mp4", 96, 64, 8, fps=12)
    file_run = cli("--source", str(clip), "--model", str(random_onnx), "--headless")
    assert re.search(r"done: 8 captured, 8 shown/written in [\d.]+ s \([\d.]+ frames/s\)", file_run.stderr), file_run.stderr
    assert "latency" not in file_run.stderr
    live_run = cli("--source", "synthetic:64x48", "--mode", "live", "--max-frames", "20", "--model", str(random_onnx), "--headless")
    assert "latency p50" in live_run.stderr and "dropped" in live_run.stderr


def test_version_flag() -> None:
    from stream import __version__

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"depth-stream {__version__}"


def test_warnings_print_above_the_progress_bar_not_glued_to_it(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "clip.mkv", 96, 64, 20, fps=20)
    out = tmp_path / "out.webm"
    # an encoder the container cannot hold: the sink warns when it opens, while the bar is on screen
    # (an encoder this FFmpeg lacks is refused with the settings now, before the bar)
    proc = cli("--source", str(clip), "--output", str(out), "--model", str(random_onnx), "--headless",
               "--set", "video.codec=mpeg4")
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.split("\n") if "cannot hold mpeg4" in line]
    assert warning, proc.stderr
    for line in warning:
        # the bar redraws after carriage returns; the warning must start its own line, not follow the bar
        shown = line.split("\r")[-1]
        assert "cannot hold mpeg4" in shown and not shown.startswith("depth"), repr(line)



def test_4k_source_gives_a_side_by_side_at_most_max_width(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "uhd.mp4", 3840, 2160, 3, fps=25)
    out = tmp_path / "uhd-out.mp4"
    result = run(settings_for(str(clip), random_onnx, output=out, display={"overlay": False, "progress": False}))
    assert result.exit_code == 0
    frames, _, _, _ = read_video(out)
    assert len(frames) == 3 and frames[0].shape == (1080, 3840, 3)  # not 7680x2160 (H.264 level 6, refused by players)
    source = read_video(clip)[0][1]
    import cv2

    expected = cv2.resize(source, (1920, 1080), interpolation=cv2.INTER_AREA)
    assert np.abs(frames[1][:, :1920].astype(int) - expected.astype(int)).mean() < 6  # the whole picture, scaled


def test_mkv_without_frame_count_gets_a_progress_total(tmp_path, random_onnx) -> None:
    clip = make_video(tmp_path / "clip.mkv", 96, 64, 20, fps=20)
    proc = cli("--source", str(clip), "--model", str(random_onnx), "--headless")
    assert proc.returncode == 0, proc.stderr
    assert "/20 [" in proc.stderr  # tqdm shows n/total, which gives the ETA


@pytest.mark.parametrize(("cores", "model", "live", "single", "expected"), [
    (2, {}, True, False, (1, 0)),                       # live: one engine with every thread, newest frame soonest
    (2, {}, False, True, (1, 0)),                       # a photo: one frame, one engine
    (2, {}, False, False, (2, 1)),                      # a file: one single-threaded engine per core
    (16, {}, False, False, (4, 4)),                     # at most 4 engines; the cores are shared out among them
    (2, {"streams": 1}, False, False, (1, 0)),          # asked for one: the old way, all threads in one engine
    (2, {"threads": 4}, False, False, (2, 2)),
    (8, {"streams": 2, "threads": 3}, False, False, (2, 1)),
])
def test_file_mode_splits_the_cores_into_single_threaded_engines(monkeypatch, cores, model, live, single, expected) -> None:
    from stream.runtime import estimators as app

    monkeypatch.setattr(app, "usable_cores", lambda: cores)
    settings = load_settings(ROOT / "config.yaml", {"model": model})
    assert app.inference_streams(settings, live, single) == expected


def test_a_file_through_two_engines_gives_the_same_video_as_through_one(tmp_path, random_onnx, caplog) -> None:
    clip = make_video(tmp_path / "in.mp4", 160, 120, 12, fps=30)
    outputs = {}
    for streams in (1, 2):
        outputs[streams] = tmp_path / f"out{streams}.mkv"
        settings = settings_for(str(clip), random_onnx, output=outputs[streams], video={"codec": "ffv1"},
                                display={"overlay": False, "progress": False})
        settings.model.streams = streams
        with caplog.at_level("INFO", logger="stream"):
            assert run(settings).exit_code == 0
    assert "2 frames at once x 1 thread" in caplog.text  # the startup line says how the file is split
    one, two = read_video(outputs[1])[0], read_video(outputs[2])[0]
    assert len(one) == len(two) == 12
    for a, b in zip(one, two):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # same frames, same order, same depth
