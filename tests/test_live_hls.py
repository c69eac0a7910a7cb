"""Live HLS as FFmpeg writes it (issue 20): a playlist that ends, and one whose encoder dies.

FFmpeg's own HLS muxer writes the playlist in real time into a temporary folder served on
127.0.0.1 (``tests.footage.live_hls``), so the app meets what a live HLS origin serves: a
sliding window of 1 s segments, ``#EXT-X-ENDLIST`` when the encoder finishes, nothing more
when it is killed. What is checked is what a user sees: the exit code, the one error line,
and the recording decoded back with PyAV.
"""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from tests.footage import live_hls
from tests.media import run_bounded
from tests.test_reliability import assert_error_line, cli, fake_model  # noqa: F401 - fake_model: the fixture

FPS = 20
# Few attempts, short waits: a run that replays or loops shows up as a timeout, not a slow pass.
QUICK = ["--set", "capture.reconnect_attempts=2", "--set", "capture.reconnect_backoff=0.1",
         "--set", "capture.read_timeout=1.5"]


def video_span(path: Path) -> tuple[float, float]:
    """(first frame's time, last frame's time + one frame) of the recording's video, in seconds."""
    with av.open(str(path)) as container:
        times = [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]
    return times[0], times[-1] + 1 / FPS


@pytest.mark.usefixtures("fake_model")
def test_live_hls_that_gains_endlist_ends_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    with live_hls(tmp_path / "hls", seconds=4, fps=FPS) as hls:
        code, lines = run_bounded(lambda: cli(capsys, "--source", hls.url, "--output", str(out), *QUICK), 40)
        assert hls.ended(), lines
    assert code == 0, lines
    assert not [line for line in lines if line.startswith("error")], lines
    start, end = video_span(out)
    # the stream held 4 s; joining it live may miss the first frames, replaying would add seconds
    assert start == 0 and 3.0 <= end <= 4.2, end


@pytest.mark.usefixtures("fake_model")
def test_live_hls_whose_encoder_dies_fails_after_the_attempts_without_replaying(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    with live_hls(tmp_path / "hls", seconds=60, fps=FPS) as hls:
        killer = threading.Timer(2.5, hls.kill)
        killer.start()
        try:
            code, lines = run_bounded(lambda: cli(capsys, "--source", hls.url, "--output", str(out), *QUICK), 60)
        finally:
            killer.cancel()
        assert not hls.ended()
        streamed = hls.listed_seconds()
    assert code == 1
    assert_error_line(lines, hls.url, "stopped delivering", "only frames already seen", "2 reconnect attempt(s) failed")
    _start, end = video_span(out)
    assert 1.0 <= end <= streamed + 0.1, (end, streamed)
