"""Reliability: every fault in the reliability table, checked the way a user meets it.

What a user sees is the exit code, one ``error: ...`` line on stderr and the output video,
so that is what these tests look at: ``run_stream.main`` in-process (or the real CLI in a
subprocess where signals or the process itself matter), and output files decoded back with
PyAV. Where the fault is not about the model, a cheap stand-in estimator replaces it so the
tests exercise the threads, sources and sinks and stay fast.

Rows already covered elsewhere are not repeated here (see the module docstrings of
test_sources, test_sinks, test_pipeline, test_app and test_config).
"""

from __future__ import annotations

import functools
import http.server
import io
import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import stream.sources
from stream import launch
from stream.config.settings import load_settings
from stream.core.errors import DepthStreamError
from stream.core.frames import Frame
from stream.core.protocols import DepthResult
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions
from stream.runtime.result import summary
from stream.runtime.run import run
from stream.sinks import NullSink, VideoFileSink
from stream.sources import PacedSource, SyntheticSource, open_source
from tests.footage import live_http
from tests.media import AUDIO_RATE, make_video, nearest_pattern, pattern_frame, read_video, run_bounded
from tests.test_sources import audio_only_mp4, video_stream_without_frames

ROOT = Path(__file__).resolve().parents[1]
W, H, FPS = 96, 64, 25
FASTSTART = {"movflags": "faststart"}
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov"}


# -- helpers ------------------------------------------------------------------------------


class GreyDepth:
    """Stands in for the model: depth = the blue channel; optionally slow, failing or hanging."""

    def estimate(self, image):

        return DepthResult(self.predict(image))

    def __init__(self, delay: float = 0.0, fail_after: int | None = None, hang_after: int | None = None) -> None:
        self.delay, self.fail_after, self.hang_after = delay, fail_after, hang_after
        self.calls = 0
        self.hanging = threading.Event()
        self.release = threading.Event()

    def predict(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("model exploded")
        if self.hang_after is not None and self.calls > self.hang_after:
            self.hanging.set()
            self.release.wait(60)
        if self.delay:
            time.sleep(self.delay)
        return image[:, :, 0].astype(np.float32)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> GreyDepth:
    """The app's model, replaced; tests may tune it (``fake_model.fail_after = 3``)."""
    estimator = GreyDepth()
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda _settings, _copies, _threads: [estimator])
    return estimator


@pytest.fixture
def video_sinks(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every VideoFileSink the app creates, so a test can compare frames written with frames decoded."""
    made: list = []

    class Recorded(VideoFileSink):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr("stream.runtime.outputs.VideoFileSink", Recorded)
    return made


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, list[str]]:
    """``run_stream.py ARGS`` in-process: (exit code, stderr lines). No overlay, so pictures compare."""
    code = launch.main([*argv, "--headless", "-q", "--set", "display.overlay=false", "--set", "display.progress=false"])
    return code, capsys.readouterr().err.strip().splitlines()


def assert_error_line(lines: list[str], *needles: str) -> str:
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def decoded_indices(path: Path, total: int, width: int = W) -> list[int]:
    """Which pattern frame each output frame shows (left half = the input picture)."""
    frames, _, _, _ = read_video(path)
    return [nearest_pattern(frame[:, :width], range(total)) for frame in frames]


def settings_for(source: str, **extra):
    overrides = {"source": source, "headless": True, "display": {"progress": False, "overlay": False}, **extra}
    return load_settings(None, overrides)


def cut(path: Path, fraction: float, name: str) -> Path:
    data = path.read_bytes()
    target = path.with_name(name)
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


# -- source file: missing / not a video / zero frames / truncated -----------------------


def _write_case(tmp_path: Path, case: str) -> Path:
    if case == "missing":
        return tmp_path / "nope.mp4"
    if case == "folder":
        folder = tmp_path / "clips.mp4"
        folder.mkdir()
        return folder
    if case == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not a video\n" * 50)
        return path
    if case == "random-bytes":
        path = tmp_path / "random.mkv"
        path.write_bytes(np.random.default_rng(5).bytes(30_000))
        return path
    if case == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
        return path
    if case == "audio-only":
        return audio_only_mp4(tmp_path / "audio-only.mp4")
    if case == "zero-frames":
        return video_stream_without_frames(tmp_path / "zero-frames.mkv")
    if case == "mp4-cut-before-its-index":
        # a plain MP4 keeps its index (moov) at the end: a cut copy cannot even be opened
        return cut(make_video(tmp_path / "whole.mp4", W, H, 40), 0.5, "cut.mp4")
    raise AssertionError(case)


@pytest.mark.parametrize("case,needle", [
    ("missing", "not found"),
    ("folder", "is a folder"),
    ("text", "is not a video file"),
    ("random-bytes", "is not a video file"),
    ("empty", "is empty"),
    ("audio-only", "has no video stream"),
    ("zero-frames", "no video frames"),
    ("mp4-cut-before-its-index", "cut short"),
])
def test_unusable_source_file_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, fake_model, case, needle) -> None:
    source = _write_case(tmp_path, case)
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "--source", str(source), "--output", str(out))
    assert code == 2
    assert_error_line(lines, source.name, needle, "--source")
    assert not out.exists() and fake_model.calls == 0


@pytest.mark.parametrize("container,suffix,options,declares", [
    ("mkv", ".mkv", None, "duration"),
    ("avi", ".avi", None, "frames"),
    ("mp4-faststart", ".mp4", FASTSTART, "frames"),
    ("mp4-fragmented", ".mp4", FRAGMENTED, "duration"),
])
def test_truncated_file_exits_2_and_keeps_every_frame_before_the_cut(tmp_path, capsys, fake_model, container, suffix,
                                                                     options, declares) -> None:
    whole = make_video(tmp_path / f"whole{suffix}", W, H, 60, fps=FPS, container_options=options)
    clip = cut(whole, 0.5, f"cut{suffix}")
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "--source", str(clip), "--output", str(out))
    assert code == 2
    line = assert_error_line(lines, "capture stage: ", str(clip), "is truncated", "re-copy or re-encode")
    counted = re.search(r"decoded (\d+) of (\d+) frames" if declares == "frames" else r"decoded (\d+) frames \(", line)
    assert counted, line
    written = int(counted.group(1))
    assert 10 < written < 50
    if declares == "frames":
        assert int(counted.group(2)) == 60
    # the frames before the cut all reach the output, in order, and the file is finalized; the
    # last may be a picture decoded from the partial packet at the cut (FFmpeg conceals the rest)
    indices = decoded_indices(out, 60)
    assert len(indices) == written and indices[:-1] == list(range(written - 1))
    assert read_video(out)[1] == FPS


def test_truncated_file_through_the_real_cli(tmp_path, random_onnx) -> None:
    clip = cut(make_video(tmp_path / "whole.mkv", 160, 120, 50, fps=FPS), 0.6, "cut.mkv")
    out = tmp_path / "out.mkv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(clip), "--output", str(out), "--model", str(random_onnx),
         "--headless", "--threads", "1", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    line = assert_error_line(lines, "cut.mkv is truncated")
    written = int(re.search(r"decoded (\d+) frames", line).group(1))
    frames, fps, _, _ = read_video(out)
    assert 0 < len(frames) == written < 50 and fps == FPS


def _moving_h264(path: Path, frames: int = 60, width: int = 320, height: int = 240) -> Path:
    """H.264 with motion, a keyframe every 30 frames and no B-frames: one packet per frame, in order."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "g": "30", "bf": "0"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, width, height), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def _flip_bytes_inside_packet(clip: Path, index: int, count: int = 60) -> Path:
    """``count`` bytes inverted in the middle of video packet ``index``'s data (not a header)."""
    with av.open(str(clip)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[index]
    assert size > count + 8
    data = bytearray(clip.read_bytes())
    start = pos + (size - count) // 2
    data[start:start + count] = bytes(b ^ 0xFF for b in data[start:start + count])
    damaged = clip.with_name(f"damaged-{clip.name}")
    damaged.write_bytes(bytes(data))
    return damaged


def _damage_line(line: str, name: str) -> tuple[int, str]:
    counted = re.search(re.escape(name) + r": (\d+) frames? (?:was|were) damaged \(decoder errors at ([0-9:.-]+)\)", line)
    assert counted, line
    return int(counted.group(1)), counted.group(2)


def test_damaged_packet_is_processed_to_the_end_then_one_line_and_exit_2(tmp_path, capsys, fake_model) -> None:
    whole = _moving_h264(tmp_path / "input.mp4")
    # the undamaged file: exit 0, no line, every frame
    code, lines = cli(capsys, "--source", str(whole), "--output", str(tmp_path / "clean.mp4"))
    assert code == 0 and lines == [], lines
    assert decoded_indices(tmp_path / "clean.mp4", 60, width=320) == list(range(60))
    # 60 bytes flipped inside frame 40's packet: FFmpeg conceals the damage and says so
    clip = _flip_bytes_inside_packet(whole, 40)
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "--source", str(clip), "--output", str(out))
    assert code == 2
    line = assert_error_line(lines, str(clip), "use an undamaged copy")
    damaged, when = _damage_line(line, clip.name)
    assert damaged == 1 and when == "00:01.60" and "the output shows it as decoded" in line, line
    # every frame reaches the finalized output, in order, to the file's end (frame 40 with smeared blocks)
    indices = decoded_indices(out, 60, width=320)
    assert len(indices) == 60 and indices[:40] == list(range(40)) and indices[-5:] == list(range(55, 60))
    # played live (like a camera) the file says the same at its end
    code, lines = cli(capsys, "--source", str(clip), "--output", str(tmp_path / "live.mp4"), "--mode", "live")
    assert code == 2 and _damage_line(assert_error_line(lines, str(clip)), clip.name) == (1, "00:01.60")
    assert len(read_video(tmp_path / "live.mp4")[0]) > 0


def test_damaged_file_through_the_real_cli_with_a_model(tmp_path, random_onnx) -> None:
    clip = _flip_bytes_inside_packet(_moving_h264(tmp_path / "input.mp4"), 40)
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", str(clip), "--output", str(out), "--model", str(random_onnx),
         "--headless", "--threads", "1", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    damaged, _ = _damage_line(assert_error_line(lines, str(clip)), clip.name)
    frames, fps, _, _ = read_video(out)
    assert len(frames) >= 60 - damaged and fps == FPS


def test_damaged_packet_in_a_live_stream_is_counted_in_the_summary_and_the_stream_goes_on(tmp_path) -> None:
    """Live, a damaged frame is packet loss: counted and said in the summary, never a reconnect or an exit code."""
    clip = _moving_h264(tmp_path / "input.mp4")
    flv = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "flv", "pipe:1"],
                         capture_output=True, check=True, timeout=60).stdout  # piped: no duration, so live
    with av.open(io.BytesIO(flv)) as container:
        pos = [p.pos for p in container.demux(video=0) if p.size][20]
    data = bytearray(flv)
    start = pos + 16  # past the FLV tag header (11 bytes) and the AVC packet header (5): the NAL's length and data
    data[start:start + 60] = bytes(b ^ 0xFF for b in data[start:start + 60])
    out = tmp_path / "out.mp4"
    with live_http([bytes(data)]) as (base, requests):
        settings = settings_for(f"{base}/live.flv", output=out, capture={"reconnect_attempts": 0})
        result = run_bounded(lambda: run(settings, GreyDepth()), 60)
    assert result.exit_code == 0 and result.live and len(requests) == 1
    assert result.stats.captured == 59  # every frame but the one that could not be decoded, to the stream's end
    assert "; 1 frame damaged (decoder errors: lost or broken packets)" in summary(result), summary(result)
    assert 0 < len(read_video(out)[0]) <= 59


def _mkv_with_audio_longer_than_video(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, W, H), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = 3 * AUDIO_RATE  # 3 s of sound under 0.8 s of picture
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return path


def _mp4_with_edit_list(path: Path) -> Path:
    """30 coded frames of which an edit list hides the first 10 (as a lossless trim does)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        for index in range(30):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, W, H), format="bgr24")
            frame.pts, frame.time_base = index - 10, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


@pytest.mark.parametrize("name,make,expected", [
    ("one-frame.mkv", lambda p: make_video(p, W, H, 1), 1),
    ("two-frames.avi", lambda p: make_video(p, W, H, 2), 2),
    ("audio.mkv", lambda p: make_video(p, W, H, 30, audio=True), 30),
    ("audio.ts", lambda p: make_video(p, W, H, 30, audio=True), 30),
    ("clip.avi", lambda p: make_video(p, W, H, 30), 30),
    ("clip.flv", lambda p: make_video(p, W, H, 30), 30),
    ("faststart.mp4", lambda p: make_video(p, W, H, 30, audio=True, container_options=FASTSTART), 30),
    ("fragmented.mp4", lambda p: make_video(p, W, H, 30, container_options=FRAGMENTED), 30),
    ("vp8.webm", lambda p: make_video(p, W, H, 12, codec="libvpx"), 12),
    ("long-audio.mkv", _mkv_with_audio_longer_than_video, 20),
    ("edit-list.mp4", _mp4_with_edit_list, 20),
])
def test_complete_files_are_never_called_truncated(tmp_path, name, make, expected) -> None:
    path = make(tmp_path / name)

    def read_all() -> list[Frame]:
        with open_source(str(path)) as source:
            return list(iter(source.read, None))

    frames = run_bounded(read_all)
    assert len(frames) == expected


def test_fuzzed_and_truncated_files_never_hang_or_crash_the_app(tmp_path) -> None:
    """Random cuts, random bytes and overwritten bytes in real files of several containers."""
    rng = np.random.default_rng(4242)
    originals = {
        ".mkv": make_video(tmp_path / "o.mkv", 64, 48, 30).read_bytes(),
        ".avi": make_video(tmp_path / "o.avi", 64, 48, 30).read_bytes(),
        ".ts": make_video(tmp_path / "o.ts", 64, 48, 30).read_bytes(),
        ".mp4": make_video(tmp_path / "o.mp4", 64, 48, 30, container_options=FASTSTART).read_bytes(),
    }
    outcomes = {"clean end": 0, "one-line error": 0, "truncated": 0}
    for case in range(16):
        suffix = list(originals)[case % 4]
        original = originals[suffix]
        kind = (case // 4) % 4
        if kind == 0:
            blob = rng.bytes(int(rng.integers(1, 20_000)))
        elif kind in (1, 2):
            blob = original[: int(rng.integers(len(original) // 10, len(original)))]
        else:
            data = bytearray(original)
            start = int(rng.integers(len(data) // 4, len(data) - 64))
            data[start:start + 64] = rng.bytes(64)
            blob = bytes(data)
        path = tmp_path / f"case{case}{suffix}"
        path.write_bytes(blob)
        out = tmp_path / f"out{case}.mkv"
        settings = settings_for(str(path), output=out)
        try:
            result = run_bounded(lambda settings=settings: run(settings, GreyDepth()), 30)
        except DepthStreamError as exc:
            message = str(exc)
            assert "\n" not in message and path.name in message and exc.exit_code == 2, message
            outcomes["one-line error"] += 1
            counted = re.search(r"decoded (\d+)", message)
            if counted:
                outcomes["truncated"] += 1
                assert len(read_video(out)[0]) == int(counted.group(1))
        else:
            assert result.exit_code == 0 and 0 < result.stats.displayed <= 30
            outcomes["clean end"] += 1
        if out.exists():
            frames, _, _, _ = read_video(out)  # whatever happened, what was written plays
            assert len(frames) <= 30
    assert outcomes["one-line error"] and outcomes["truncated"] and outcomes["clean end"], outcomes


# -- webcam that does not open ------------------------------------------------------------


def test_webcam_that_does_not_open_lists_what_was_tried(tmp_path, capsys, fake_model) -> None:
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "--source", "99", "--output", str(out))
    assert code == 2
    line = assert_error_line(lines, "webcam 99 did not open", "tried index 99", "--source")
    if sys.platform.startswith("linux"):
        assert "V4L2" in line and "/dev/video" in line
    assert not out.exists()


# -- a live source that stops mid-run -----------------------------------------------------


class _FlakyStream(http.server.BaseHTTPRequestHandler):
    """A live MPEG-TS stream following a script: "half" (then the connection drops), "full", 404."""

    payload = b""
    script: list[str] = []
    requests: list[float] = []

    def do_GET(self) -> None:
        self.requests.append(time.monotonic())
        action = self.script[len(self.requests) - 1] if len(self.requests) <= len(self.script) else "404"
        if action == "404":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()  # no length, no ranges: a live stream, not a seekable file
        self.wfile.write(self.payload if action == "full" else self.payload[: len(self.payload) // 2])
        self.wfile.flush()

    def log_message(self, *_args) -> None:
        pass


def test_network_stream_that_drops_reconnects_with_backoff_then_fails_clearly(tmp_path, capsys, fake_model) -> None:
    payload = make_video(tmp_path / "live.ts", W, H, 60, fps=FPS).read_bytes()
    handler = type("Handler", (_FlakyStream,), {"payload": payload, "script": ["half", "404", "full"], "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    out = tmp_path / "out.mp4"
    try:
        code, lines = run_bounded(lambda: cli(capsys, "--source", url, "--output", str(out), "--set", "capture.reconnect_attempts=3",
                                            "--set", "capture.reconnect_backoff=0.1"), 60)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert_error_line(lines, "capture stage: ", url, "stopped delivering", "3 reconnect attempt(s) failed")
    # dropped -> 404 (after 0.1 s) -> back (after 0.2 s more) -> ended -> three 404s, 0.1 / 0.2 / 0.4 s apart
    times = handler.requests
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.1 and gaps[3] >= 0.2 and gaps[4] >= 0.4
    # the output holds frames from before and after the reconnect, each once (the frames the server
    # sent again after reconnecting were delivered before), on one increasing timeline
    indices = decoded_indices(out, 60)
    assert indices and indices[0] < 30 <= indices[-1], indices
    # each frame once and in order; the one frame cut short by the drop may show what FFmpeg concealed it
    # with (its reference frame's picture), so one step back is allowed there and nowhere else
    steps_back = [i for i, (a, b) in enumerate(zip(indices, indices[1:])) if b <= a]
    assert len(steps_back) <= 1 and len(indices) - len(set(indices)) <= len(steps_back), indices
    with av.open(str(out)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    assert all(b > a for a, b in zip(pts, pts[1:]))


class _CameraThatDies:
    """Stands in for ``cv2.VideoCapture``: a working camera for 25 frames, then silence."""

    def __init__(self, index: int, backend: int) -> None:
        self.sent = 0

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        import cv2

        return {cv2.CAP_PROP_FRAME_WIDTH: W, cv2.CAP_PROP_FRAME_HEIGHT: H, cv2.CAP_PROP_FPS: 100}.get(prop, 0.0)

    def read(self):
        if self.sent >= 25:
            return False, None
        time.sleep(0.01)
        self.sent += 1
        return True, pattern_frame(self.sent - 1, W, H)

    def release(self) -> None:
        pass


def test_camera_that_stops_mid_run_fails_clearly_with_output_finalized(tmp_path, capsys, monkeypatch, fake_model,
                                                                        video_sinks) -> None:
    monkeypatch.setattr("stream.sources.webcam.cv2.VideoCapture", _CameraThatDies)
    out = tmp_path / "out.mp4"
    code, lines = run_bounded(lambda: cli(capsys, "--source", "0", "--output", str(out), "--set", "capture.read_timeout=0.3"))
    assert code == 1
    assert_error_line(lines, "capture stage: ", "webcam 0 delivered no frame for 0.3s")
    indices = decoded_indices(out, 25)
    assert 0 < len(indices) == video_sinks[0].frames_written and indices == sorted(set(indices))


# -- signals during a live recording (file processing: test_app.test_signal_finalizes_output)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_live_recording_finalizes_the_recording(tmp_path, random_onnx, sig, code) -> None:
    out = tmp_path / "recording.mp4"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_stream.py"), "--source", "synthetic:320x240", "--mode", "live", "--output", str(out),
         "--model", str(random_onnx), "--headless", "--threads", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.stat().st_size > 2000) and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(sig)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert time.monotonic() - sent < 4.0  # 2 s to join the threads, then the interpreter exits
    assert proc.returncode == code, stderr
    assert f"stopped by {signal.Signals(sig).name}; output finalized" in stderr
    with av.open(str(out)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    assert len(pts) > 0 and all(b > a for a, b in zip(pts, pts[1:]))


HUNG_MODEL_SCRIPT = textwrap.dedent("""
    import sys, threading
    import stream.runtime.estimators
    from stream import launch
    from stream.core.protocols import DepthResult

    class HangsAfterTen:
        calls = 0
        def estimate(self, image):
            return DepthResult(self.predict(image))
        def predict(self, image):
            self.calls += 1
            if self.calls > 10:
                print("hanging", flush=True)
                threading.Event().wait()
            return image[:, :, 0].astype("float32")

    stream.runtime.estimators.make_estimators = lambda settings, copies, threads: [HangsAfterTen()]
    sys.exit(launch.main(sys.argv[1:]))
""")


def test_ctrl_c_with_a_hung_worker_still_exits_130_with_output(tmp_path) -> None:
    clip = make_video(tmp_path / "in.mkv", W, H, 200, fps=FPS)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HUNG_MODEL_SCRIPT, "--source", str(clip), "--output", str(out), "--headless",
                             "--set", "display.overlay=false"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "hanging"
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert time.monotonic() - sent < 5.0
    assert proc.returncode == 130, stderr
    assert "threads still running" in stderr and "stopped by SIGINT" in stderr
    assert decoded_indices(out, 200) == list(range(len(read_video(out)[0])))
    assert 0 < len(read_video(out)[0]) <= 10


# -- model file faults ----------------------------------------------------------------------


def _onnx_with_input(path: Path, shape: list[int]) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "not-depth", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _model_case(tmp_path: Path, case: str, request: pytest.FixtureRequest) -> tuple[list[str], Path]:
    if case == "missing-onnx":
        path = tmp_path / "nope.onnx"
        return ["--model", str(path)], path
    if case == "not-onnx":
        path = tmp_path / "model.onnx"
        path.write_text("this is a text file\n")
        return ["--model", str(path)], path
    if case == "input-rank-3":
        path = _onnx_with_input(tmp_path / "rank3.onnx", [1, 3, 64])
        return ["--model", str(path)], path
    if case == "input-1-channel":
        path = _onnx_with_input(tmp_path / "grey.onnx", [1, 1, 64, 64])
        return ["--model", str(path)], path
    if case == "missing-pt":
        path = tmp_path / "nope.pt"
        return ["--weights", str(path)], path
    if case == "garbage-pt":
        path = tmp_path / "garbage.pt"
        path.write_bytes(np.random.default_rng(3).bytes(5000))
        return ["--weights", str(path)], path
    if case == "truncated-pt":
        whole = request.getfixturevalue("random_weights")
        path = tmp_path / "truncated.pt"
        path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        return ["--weights", str(path)], path
    if case == "other-network-pt":
        import torch

        path = tmp_path / "resnet.pt"
        torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, path)
        return ["--weights", str(path)], path
    raise AssertionError(case)


@pytest.mark.parametrize("case,needles", [
    ("missing-onnx", ["not found", "--model"]),
    ("not-onnx", ["not a loadable ONNX model", "--model"]),
    ("input-rank-3", ["rank 3", "expected 4 (N x 3 x H x W)"]),
    ("input-1-channel", ["1 channels", "expected 3"]),
    ("missing-pt", ["not found", "--weights"]),
    ("garbage-pt", ["not a readable PyTorch checkpoint", "--weights"]),
    ("truncated-pt", ["not a readable PyTorch checkpoint", "--weights"]),
    ("other-network-pt", ["is missing", "MiDaS v2.1 small", "--weights"]),
])
def test_bad_model_file_is_one_line_naming_file_and_fix(tmp_path, capsys, request, case, needles) -> None:
    flags, path = _model_case(tmp_path, case, request)
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "--source", "synthetic:64x48", "--max-frames", "2", "--output", str(out),
                      "--cache-dir", str(tmp_path / "cache"), *flags)
    assert code == 2
    assert_error_line(lines, path.name, *needles)
    assert not out.exists()


# -- output path unwritable or its folder missing -------------------------------------------


@pytest.mark.parametrize("case,needle", [
    ("folder-is-a-file", "is not a folder"),
    ("output-is-a-folder", "is a folder"),
    ("not-a-video-extension", "no video extension"),
    ("read-only-folder", "is not writable"),
    ("read-only-file", "is not writable"),
    ("pseudo-filesystem", "is not writable"),  # sysfs refuses new files even to root
])
def test_bad_output_path_fails_before_any_processing(tmp_path, capsys, monkeypatch, case, needle) -> None:
    started: list[str] = []
    monkeypatch.setattr("stream.runtime.single.open_source", lambda *a, **k: started.append("source") or pytest.fail("source opened"))
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda *a: started.append("model") or pytest.fail("model loaded"))
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "dir.mp4").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "ro.mp4").write_bytes(b"old")
    out = {
        "folder-is-a-file": tmp_path / "plain.txt" / "out.mp4",
        "output-is-a-folder": tmp_path / "dir.mp4",
        "not-a-video-extension": tmp_path / "out.txt",
        "read-only-folder": locked / "out.mp4",
        "read-only-file": tmp_path / "ro.mp4",
        "pseudo-filesystem": Path("/sys/out.mp4"),
    }[case]
    if case == "pseudo-filesystem" and not (sys.platform.startswith("linux") and Path("/sys/kernel").is_dir()):
        pytest.skip("needs Linux sysfs")
    locked.chmod(0o500)
    (tmp_path / "ro.mp4").chmod(0o400)
    try:
        if case.startswith("read-only") and os.access(out if out.exists() else out.parent, os.W_OK):
            pytest.skip("running as root: permissions do not stop writing")
        code, lines = cli(capsys, "--source", "synthetic:64x48", "--max-frames", "2", "--output", str(out))
    finally:
        locked.chmod(0o700)
        (tmp_path / "ro.mp4").chmod(0o600)
    assert code == 2
    line = assert_error_line(lines, needle)
    assert out.name in line or out.parent.name in line
    assert started == []
    assert (tmp_path / "ro.mp4").read_bytes() == b"old" and not any(locked.iterdir())


# -- slow consumer over a long run: bounded queues, flat memory ----------------------------


class _LeakySink(NullSink):
    """A control for the memory check: keeps every frame it is given, as a bug would."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[Frame] = []

    def write(self, frame: Frame) -> None:
        super().write(frame)
        self.kept.append(frame)


@pytest.mark.parametrize("mode", ["live", "file", "leaky-control"])
def test_slow_consumer_keeps_queues_bounded_and_memory_flat(mode) -> None:
    """Inference 10x slower than capture; queue lengths sampled all along; traced memory must not grow.

    Live: a 1000 fps camera (3000 frames, ~3 s) feeding a 100 fps model. 160x120 frames are
    57 KB each: a queue that kept them would add ~170 MB, a sink that kept its ~300 composed
    frames ~35 MB, against a 10 MB allowance; the leaky control proves the measurement sees it.
    File mode: every frame goes through, the writer blocks instead.
    """
    live = mode != "file"
    count, delay = (3000, 0.01) if live else (400, 0.002)
    source = SyntheticSource(160, 120, fps=1000.0, num_frames=count)
    if live:
        source = PacedSource(source)
    sink = _LeakySink() if mode == "leaky-control" else NullSink()
    pipeline = Pipeline(source, GreyDepth(delay=delay), [sink], PipelineOptions(live=live, queue_size=4, overlay=False))
    bound = 1 if live else 4
    samples: list[tuple[int, int, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((pipeline.stats.captured, len(pipeline.frames), len(pipeline.depths), tracemalloc.get_traced_memory()[0]))
            time.sleep(0.005)

    tracemalloc.start()
    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        stats = pipeline.run()
    finally:
        done.set()
        sampler.join(5)
        tracemalloc.stop()
    assert stats.captured == count
    assert max(s[1] for s in samples) <= bound and max(s[2] for s in samples) <= bound
    assert stats.max_queue <= bound and pipeline.frames.max_seen <= bound and pipeline.depths.max_seen <= bound
    if live:
        assert stats.dropped > 0 and stats.inferred < count / 3  # the consumer really was the slow side
    else:
        assert stats.dropped == 0 and stats.displayed == count
    early = [s[3] for s in samples if count * 0.1 <= s[0] <= count * 0.25]
    late = [s[3] for s in samples if s[0] >= count * 0.5]
    assert early and late, (len(samples), samples[-1])
    growth_mb = (max(late) - max(early)) / 1e6
    if mode == "leaky-control":
        assert growth_mb > 10
    else:
        assert growth_mb < 10, f"traced memory grew {growth_mb:.1f} MB over the run"


# -- an exception inside a worker thread ----------------------------------------------------


def fail(message: str) -> None:
    raise RuntimeError(message)


def before_source_read(monkeypatch, at_frame: int, action: Callable[[], None]) -> None:
    """Sources the app opens call ``action()`` before reading frame ``at_frame``."""
    real_open = stream.sources.open_source

    def open_patched(spec, options=None):
        source = real_open(spec, options)
        read = source.read
        reads = itertools.count()

        def read_after_action():
            if next(reads) == at_frame:
                action()
            return read()

        source.read = read_after_action
        return source

    monkeypatch.setattr("stream.runtime.single.open_source", open_patched)


def before_sink_write(monkeypatch, at_frame: int, action: Callable[[], None]) -> None:
    """Video file sinks call ``action()`` before writing frame ``at_frame``."""

    def write_after_action(self, frame, _write=VideoFileSink.write) -> None:
        if self.frames_written == at_frame:
            action()
        _write(self, frame)

    monkeypatch.setattr(VideoFileSink, "write", write_after_action)


@pytest.mark.parametrize("stage", ["capture", "inference", "display"])
def test_worker_exception_names_its_stage_exits_1_and_finalizes_output(tmp_path, capsys, monkeypatch, fake_model,
                                                                     video_sinks, stage) -> None:
    clip = make_video(tmp_path / "in.mkv", W, H, 60, fps=FPS)
    out = tmp_path / "out.mp4"
    if stage == "capture":
        before_source_read(monkeypatch, 12, functools.partial(fail, "USB bus reset"))
    elif stage == "inference":
        fake_model.fail_after = 8
    else:
        before_sink_write(monkeypatch, 10, functools.partial(fail, "encoder crashed"))
    code, lines = run_bounded(lambda: cli(capsys, "--source", str(clip), "--output", str(out)))
    assert code == 1
    cause = {"capture": "USB bus reset", "inference": "model exploded", "display": "encoder crashed"}[stage]
    assert_error_line(lines, f"{stage} stage failed: RuntimeError: {cause}")
    written = video_sinks[0].frames_written
    if stage == "inference":
        assert 0 < written <= 8  # frames still in flight when the model failed are not waited for
    else:
        assert written == {"capture": 12, "display": 10}[stage]  # capture drains what it had read
    # the output is finalized: every frame written before the failure decodes, in order
    assert decoded_indices(out, 60) == list(range(written))


def readme_row(starts: str) -> str:
    """The README's "What happens when..." row whose first cell starts with ``starts``."""
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(f"| {starts}")]
    assert len(rows) == 1, f"README has {len(rows)} rows starting {starts!r}"
    return rows[0]


def test_readme_shows_stage_errors_exactly_as_the_app_prints_them(tmp_path, capsys, monkeypatch, fake_model) -> None:
    """Both forms: a problem the app knows (its own one-line reason) and an unexpected exception."""
    clip = make_video(tmp_path / "in.mkv", W, H, 20, fps=FPS)
    before_source_read(monkeypatch, 3, functools.partial(fail, "USB bus reset"))
    _, unexpected = run_bounded(lambda: cli(capsys, "--source", str(clip), "--output", str(tmp_path / "a.mp4")))
    monkeypatch.undo()
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda _settings, _copies, _threads: [GreyDepth()])
    monkeypatch.setattr("stream.sources.webcam.cv2.VideoCapture", _CameraThatDies)
    _, known = run_bounded(lambda: cli(capsys, "--source", "0", "--output", str(tmp_path / "b.mp4"),
                                            "--set", "capture.read_timeout=0.3"))
    templates = re.findall(r"`(error: [^`]*stage[^`]*)`", readme_row("an exception inside any worker thread"))
    patterns = [re.compile(".+".join(map(re.escape, re.split(r"<[^>]+>|…", t)))) for t in templates]
    for lines in (unexpected, known):
        assert_error_line(lines, "capture stage")
        assert any(p.fullmatch(lines[0]) for p in patterns), (lines[0], templates)


# -- a worker that hangs does not hang shutdown ---------------------------------------------


@pytest.mark.parametrize("stage", ["capture", "inference", "display"])
def test_hung_worker_does_not_hang_shutdown(tmp_path, monkeypatch, caplog, video_sinks, stage) -> None:
    caplog.set_level(logging.WARNING, logger="stream.pipeline.stages")
    clip = make_video(tmp_path / "in.mkv", W, H, 100, fps=FPS)
    out = tmp_path / "out.mp4"
    estimator = GreyDepth(hang_after=15 if stage == "inference" else None)
    hanging, release = estimator.hanging, estimator.release

    def hang() -> None:
        if not release.is_set():
            hanging.set()
            release.wait(60)

    if stage == "capture":
        before_source_read(monkeypatch, 15, hang)
    elif stage == "display":
        before_sink_write(monkeypatch, 10, hang)
    stop = threading.Event()
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("result", run(settings_for(str(clip), output=out), estimator, stop)),
                              daemon=True)
    try:
        runner.start()
        assert hanging.wait(30), "the worker never reached its hang"
        stop.set()
        stopped = time.monotonic()
        runner.join(15)
        took = time.monotonic() - stopped
        assert not runner.is_alive()
    finally:
        release.set()
    assert took < 5.0  # joins time out after 2 s; nothing waits for the hung thread
    assert outcome["result"].exit_code == 0
    assert "threads still running" in caplog.text and f"depth-{stage}" in caplog.text
    written = video_sinks[0].frames_written
    assert written > 0 and decoded_indices(out, 100) == list(range(written))
