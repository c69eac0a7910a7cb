"""Live sources timed as they really run: an MJPEG IP camera by arrival, bursty live HLS played
out evenly, and ``--max-frames`` counting what is written, with a summary whose counts add up.

Sources are served on 127.0.0.1 the way devices and services serve them (``tests.cameras``);
the output files are decoded back and judged on their timestamps.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.bench.dejitter import LiveHls
from stream.config.settings import load_settings
from stream.core.frames import Frame
from stream.core.protocols import DepthResult
from stream.runtime.result import summary
from stream.runtime.run import run
from stream.sources import SourceInfo, SourceKind
from stream.sources.dejitter import MAX_FRAMES, DejitteredSource, Playout, buffer_frames
from tests.cameras import MjpegCamera, picture_index
from tests.media import pattern_frame, run_bounded, serve_directory

ROOT = Path(__file__).resolve().parents[1]


def settings_for(source: str, model: Path, output: Path | None = None, **extra):
    overrides = {"source": source, "output": output, "headless": True, "model": {"onnx": model, "threads": 2},
                 "display": {"progress": False}, **extra}
    return load_settings(ROOT / "config.yaml", overrides)


def watch(camera: MjpegCamera, frames: int, cancel: threading.Event) -> threading.Thread:
    """Cancel the run (as Ctrl-C would) once the camera has sent ``frames`` parts."""
    def body() -> None:
        while len(camera.sent) < frames and not cancel.wait(0.02):
            pass
        cancel.set()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("fps_flag", [None, 15])
def test_mjpeg_camera_is_timed_by_arrival(tmp_path: Path, random_onnx: Path, caplog, fps_flag) -> None:
    out = tmp_path / "camera.mkv"
    capture = {"reconnect_attempts": 0} | ({"fps": fps_flag} if fps_flag else {})
    cancel = threading.Event()
    with MjpegCamera(fps=15, frames=200) as camera, caplog.at_level(logging.INFO, logger="stream"):
        watch(camera, 75, cancel)
        result = run(settings_for(camera.url, random_onnx, out, capture=capture, display={"progress": False,
                                                                                          "overlay": False}), cancel=cancel)
    assert result.exit_code == 0 and result.live
    with av.open(str(out)) as container:
        decoded = [(float(f.pts * f.time_base), f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    assert len(decoded) == result.stats.displayed >= 10
    first, last = (picture_index(image, camera.width) for _, image in (decoded[0], decoded[-1]))
    sent = camera.sent[last] - camera.sent[first]
    # FFmpeg's own clock says (last - first) / 25 s: 40% short of a 15 fps camera's time
    assert decoded[-1][0] - decoded[0][0] == pytest.approx(sent, rel=0.05), (first, last, sent, decoded[-1][0])
    assert sent > 3.0
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("source:"))
    assert "25.00 fps" not in line and "timed by arrival: the mpjpeg format carries no timestamps" in line, line
    assert ("@ 15.00 fps from --fps" in line) == (fps_flag is not None), line
    measured = float(re.search(r"capture ([\d.]+) fps", summary(result)).group(1))
    # the camera's 15 fps as frames arrived (give or take the frames it sent while the model loaded)
    assert measured == pytest.approx(15, rel=0.35)


def test_max_frames_on_a_live_source_counts_frames_written_and_the_summary_adds_up(tmp_path: Path,
                                                                                   random_onnx: Path) -> None:
    out = tmp_path / "live.mkv"
    settings = settings_for("synthetic:320x240", random_onnx, out, mode="live", max_frames=20, capture={"fps": 120})
    result = run(settings)
    with av.open(str(out)) as container:
        written = sum(1 for _ in container.decode(video=0))
    assert result.exit_code == 0 and written == 20
    line = summary(result)
    counts = {name: int(number) for number, name in re.findall(r"(\d+) (captured|inferred|shown/written|dropped)", line)}
    before, after = map(int, re.search(r"\((\d+) before inference, (\d+) after\)", line).groups())
    assert counts["shown/written"] == 20 and counts["dropped"] > 0, line
    assert counts["captured"] == counts["shown/written"] + counts["dropped"], line
    assert counts["dropped"] == before + after and counts["inferred"] == counts["captured"] - before, line


# -- bursty live input, played out evenly -------------------------------------------------------


def bursts(segments: int, per_segment: int = 25, fps: float = 25.0, late: float = 0.1) -> list[tuple[float, float]]:
    """(media seconds, arrival) of frames that come a segment at a time, as live HLS hands them over:
    segment k's frames all arrive ``late`` after the segment's end, a millisecond apart."""
    return [(k * per_segment / fps + i / fps, (k + 1) * per_segment / fps + late + i * 0.001)
            for k in range(segments) for i in range(per_segment)]


def test_playout_spaces_frames_of_bursts_evenly_and_adds_nothing_to_a_steady_stream() -> None:
    playout = Playout()
    due = []
    for seconds, arrival in bursts(6):
        playout.arrived(seconds, arrival)
        due.append(max(arrival, playout.due(seconds)))  # handed on when due, never before it arrived
    steps = np.diff(due[25:])  # from the second segment on: every frame has arrived by its turn
    assert steps == pytest.approx([0.04] * len(steps), abs=1e-6)
    assert playout.delay == pytest.approx(24 * (0.04 - 0.001))  # about one segment (its first to last frame), no more
    steady = Playout()
    for index in range(100):
        arrival = 5.0 + index / 25 + 0.003 * (index % 3)  # network jitter of a few ms
        steady.arrived(index / 25, arrival)
        assert steady.due(index / 25) <= arrival  # nothing held back
    assert steady.delay == 0.0


def test_playout_delay_is_bounded() -> None:
    playout = Playout(max_delay=2.0)
    for seconds, arrival in bursts(4, per_segment=150):  # 6 s segments
        playout.arrived(seconds, arrival)
    assert playout.delay == 2.0
    assert buffer_frames(640, 480) == MAX_FRAMES and 8 <= buffer_frames(3840, 2160) < buffer_frames(1920, 1080) < 60


class BurstySource:
    """Frames at 25 fps that arrive ten at a time every 0.4 s, then the end."""

    def __init__(self, count: int = 60) -> None:
        self.count, self.sent = count, 0
        self.info = SourceInfo(64, 48, 25.0, None, Fraction(1, 25), SourceKind.STREAM, "bursty")
        self.closed = False

    def read(self) -> Frame | None:
        if self.sent >= self.count:
            return None
        if self.sent % 10 == 0:
            time.sleep(0.4)
        frame = Frame(np.zeros((48, 64, 3), np.uint8), self.sent, pts=self.sent, time_base=Fraction(1, 25))
        self.sent += 1
        return frame

    def close(self) -> None:
        self.closed = True


def test_dejittered_source_hands_bursts_on_evenly_then_ends() -> None:
    inner = BurstySource()
    with DejitteredSource(inner) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert [f.index for f in frames] == list(range(60)) and inner.closed
    steps = np.diff([f.captured_at for f in frames[20:]])  # after the first bursts set the lag
    assert max(steps) < 0.15 and np.median(steps) == pytest.approx(0.04, abs=0.015), steps  # not 0.4 s, then ten at once


class SlowEstimator:
    """Depth in a fixed time per frame (~14 fps here), like a model slower than the stream."""

    def estimate(self, image: np.ndarray) -> DepthResult:
        time.sleep(0.07)
        return DepthResult(np.linspace(0, 1, image.shape[0] * image.shape[1], dtype=np.float32).reshape(image.shape[:2]))


def test_live_hls_reaches_inference_evenly_spaced(tmp_path: Path) -> None:
    frames = [pattern_frame(index, 160, 120) for index in range(200)]
    out = tmp_path / "hls.mkv"
    (tmp_path / "hls").mkdir()
    # 8 s written live in 1 s segments, then the playlist ends (and with no reconnects, so does the run)
    with LiveHls(tmp_path / "hls", frames, count=200), serve_directory(tmp_path / "hls") as base:
        settings = settings_for(f"{base}/live.m3u8", Path("unused.onnx"), out, capture={"reconnect_attempts": 0},
                                display={"progress": False, "overlay": False})
        result = run_bounded(lambda: run(settings, SlowEstimator()), 60)
    assert result.exit_code == 0 and result.live
    with av.open(str(out)) as container:
        times = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    gaps = np.diff(times)
    # newest-frame-wins on whole segments writes one or two frames a segment (gaps of ~1 s); played
    # out evenly, the estimator takes a frame every ~0.08 s
    assert len(times) >= 40 and max(gaps) < 0.35, (len(times), max(gaps))
