"""Live HLS as FFmpeg writes it (issue 20): a playlist that ends, one whose encoder dies; and live sound.

FFmpeg's own HLS muxer writes the playlist in real time into a temporary folder served on
127.0.0.1 (``tests.footage.live_hls``), so the app meets what a live HLS origin serves: a
sliding window of 1 s segments, ``#EXT-X-ENDLIST`` when the encoder finishes, nothing more
when it is killed. Live sound is checked on that HLS and on MPEG-TS over UDP from two
FFmpeg senders, one after the other (a restarted encoder). What is checked is what a user
sees: the exit code, the one error line, and the recording decoded back with PyAV.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.footage import free_udp_port, live_hls
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
    assert start == 0 and 2.5 <= end <= 4.2, end


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


@pytest.mark.usefixtures("fake_model")
def test_live_hls_keeps_its_sound_in_step_with_the_picture(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    with live_hls(tmp_path / "hls", seconds=4, fps=FPS, audio=True) as hls:
        code, lines = run_bounded(lambda: cli(capsys, "--source", hls.url, "--output", str(out), *QUICK), 40)
    assert code == 0, lines
    start, end = video_span(out)
    with av.open(str(out)) as container:
        assert container.streams.audio, "the recording has no sound"
        frames = list(container.decode(audio=0))
    rate = frames[0].sample_rate
    sound = np.concatenate([frame.to_ndarray().reshape(-1, frame.samples)[0] for frame in frames])
    heard_from = float(frames[0].pts * frames[0].time_base)
    heard_to = float(frames[-1].pts * frames[-1].time_base) + frames[-1].samples / rate
    # on the picture's timeline: it starts and ends with the video (an AAC frame is 23 ms)
    assert abs(heard_from - start) <= 0.1 and abs(heard_to - end) <= 0.15, (heard_from, heard_to, start, end)
    # and it is the 440 Hz tone, not silence
    assert float(np.sqrt(np.mean(sound ** 2))) > 0.05
    spectrum = np.abs(np.fft.rfft(sound))
    assert abs(np.argmax(spectrum) * rate / len(sound) - 440) < 5


def tone_at(sound: np.ndarray, rate: int) -> float:
    """The loudest frequency in ``sound`` (Hz)."""
    return float(np.argmax(np.abs(np.fft.rfft(sound))) * rate / len(sound))


def listening(port: int, limit: float = 30.0) -> None:
    """Wait until something (the app) has bound UDP ``port`` on this machine (Linux: /proc/net/udp)."""
    table = Path("/proc/net/udp")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not table.exists():
            time.sleep(3.0)  # no way to look: give the app time to start
            return
        if f":{port:04X} " in table.read_text():
            return
        time.sleep(0.05)


def send_ts(port: int, picture: str, tone: int, seconds: float) -> None:
    """``ffmpeg -re``: ``picture`` (a lavfi source) and a ``tone`` Hz sine as MPEG-TS over UDP, in real time."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", picture,
                    "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100", "-t", f"{seconds:g}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "5", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"], check=True, timeout=30)


@pytest.mark.usefixtures("fake_model")
def test_live_sound_follows_the_picture_across_a_sender_restart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, port = tmp_path / "out.mp4", free_udp_port()

    def senders() -> None:
        listening(port)
        send_ts(port, "testsrc2=size=96x64:rate=25", 440, 2)
        time.sleep(0.3)
        send_ts(port, "color=c=red:size=96x64:rate=25", 880, 2)  # the encoder restarted: timestamps from zero again

    thread = threading.Thread(target=senders, daemon=True)
    thread.start()
    code, lines = run_bounded(lambda: cli(capsys, "--source", f"udp://127.0.0.1:{port}", "--output", str(out),
                                          "--set", "capture.reconnect_attempts=0", "--set", "capture.read_timeout=3"), 40)
    thread.join(30)
    assert code == 1, lines  # the stream stops after the second sender: lost, the recording finalized
    with av.open(str(out)) as container:
        assert container.streams.audio, "the recording has no sound"
        pictures = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")[:, :96].mean(axis=(0, 1)))
                    for f in container.decode(video=0)]
        container.seek(0)
        sounds = [(float(f.pts * f.time_base), f.to_ndarray().reshape(-1, f.samples)[0]) for f in container.decode(audio=0)]
    red = next(t for t, (r, g, b) in pictures if r > 150 and g < 80 and b < 80)  # the second sender's first picture
    rate = 44100
    high = next(t for t, sound in sounds if abs(tone_at(sound, rate) - 880) < 50)  # the second sender's first sound
    # the second sender's sound starts with its picture (within an AAC frame or two), and lasts as long as the pictures
    assert abs(high - red) <= 0.06, (high, red)
    last = pictures[-1][0] + 0.04
    heard_to = sounds[-1][0] + len(sounds[-1][1]) / rate
    assert abs(heard_to - last) <= 0.15 and sounds[0][0] <= pictures[0][0] + 0.1, (heard_to, last)
    assert abs(tone_at(np.concatenate([s for t, s in sounds if t < red - 0.2]), rate) - 440) < 5
