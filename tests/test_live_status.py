"""A live recording's status line: elapsed, frames written, depth fps, file size, as FFmpeg shows it."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stream import launch
from stream.pipeline.stats import PipelineStats
from stream.runtime import status
from stream.runtime.status import LiveStatus
from tests.test_reliability import GreyDepth

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counters(seconds: float, frames: int) -> PipelineStats:
    stats = PipelineStats(started_at=0.0, finished_at=seconds, displayed=frames)
    for i in range(30):
        stats.depth_rate.tick(i / 15)
    return stats


def test_on_a_terminal_the_line_is_rewritten_in_place_and_logs_clear_it() -> None:
    terminal, clock = Terminal(), Clock()
    handler = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with LiveStatus(terminal, "written", lambda: 12_345_678, clock) as line:
            clock.now = 0.2
            line.step(counters(0.2, 2))
            assert terminal.getvalue() == ""  # not yet: twice a second
            clock.now = 83.0
            line.step(counters(83.0, 1234))
            shown = "00:01:23  1234 frames written  depth 15.0 fps  12.3 MB"
            assert terminal.getvalue() == "\r" + shown
            logging.getLogger("stream.test").warning("reconnecting")
            assert terminal.getvalue().endswith("\r" + " " * len(shown) + "\rreconnecting\n")
            clock.now = 84.0
            line.step(counters(84.0, 1250))
        assert terminal.getvalue().endswith("\r00:01:24  1250 frames written  depth 15.0 fps  12.3 MB\n")
    finally:
        root.removeHandler(handler)


def test_into_a_file_it_is_a_plain_line_every_ten_seconds() -> None:
    log, clock = io.StringIO(), Clock()
    with LiveStatus(log, "written", lambda: 2_000_000, clock) as line:
        for second in range(1, 26):
            clock.now = float(second)
            line.step(counters(second, second * 15))
    assert log.getvalue().splitlines() == ["00:00:10  150 frames written  depth 15.0 fps  2.0 MB",
                                           "00:00:20  300 frames written  depth 15.0 fps  2.0 MB"]
    assert "\r" not in log.getvalue()


@pytest.mark.parametrize("quiet", [False, True])
def test_headless_live_recording_shows_its_status_unless_quiet(tmp_path, capsys, monkeypatch, quiet) -> None:
    monkeypatch.setattr("stream.runtime.estimators.make_estimators", lambda _settings, _copies, _threads: [GreyDepth()])
    monkeypatch.setattr(status, "PLAIN_EVERY", 0.0)  # a line per frame: the test need not wait 10 s
    out = tmp_path / "live.mp4"
    code = launch.main(["--source", "synthetic:96x64", "--mode", "live", "--headless", "--max-frames", "8",
                        "--output", str(out), *(["-q"] if quiet else [])])
    assert code == 0
    lines = capsys.readouterr().err.splitlines()
    shown = [line for line in lines if " frames written  depth " in line]
    if quiet:
        assert shown == [] and lines == []
        return
    assert len(shown) >= 7, lines
    assert shown[-1].split("  ")[1] == "8 frames written" and shown[-1].endswith(" kB")
    assert lines.index(shown[-1]) < next(i for i, line in enumerate(lines) if line.startswith("done:"))


def test_on_a_real_terminal_the_cli_rewrites_one_line(random_onnx) -> None:
    """The command under a pseudo-terminal: carriage returns, no status line glued to a log line."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_stream.py"), "--source", "synthetic:64x48", "--mode", "live",
                             "--headless", "--max-frames", "45", "--output", "-", "--model", str(random_onnx),
                             "--threads", "1", "--engine", "onnxruntime", "--precision", "fp32"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end closed: the process is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(60) == 0, seen
    text = seen.decode()
    assert re.search(r"\r\d\d:\d\d:\d\d  \d+ frames sent  depth ", text), text
    done = text.index("done:")
    assert text[done - 1] == "\n" and "fps  done" not in text  # the summary starts its own line
