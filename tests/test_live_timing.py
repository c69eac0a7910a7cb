"""Live sources timed as they really run: an MJPEG IP camera by arrival, bursty live HLS played
out evenly, and ``--max-frames`` counting what is written, with a summary whose counts add up.

Sources are served on 127.0.0.1 the way devices and services serve them (``tests.cameras``);
the output files are decoded back and judged on their timestamps.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

import av
import pytest

from stream.config.settings import load_settings
from stream.runtime.result import summary
from stream.runtime.run import run
from tests.cameras import MjpegCamera, picture_index

ROOT = Path(__file__).resolve().parents[1]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


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
