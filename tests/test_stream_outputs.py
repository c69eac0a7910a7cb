"""The depth view sent on as a live stream, received on 127.0.0.1 the way OBS, VLC or ffplay would take it.

``--output udp://HOST:PORT`` (MPEG-TS), ``rtmp://HOST/APP/KEY`` (FLV), ``-`` (MPEG-TS on standard
output) and a named pipe: each is received by FFmpeg (the ffmpeg CLI, or PyAV) and decoded back
into frames of the side-by-side's size. A receiver that goes away ends the run in one line; a
receiver that stops reading never holds up the pipeline. Other schemes are one line, as given,
before the model loads. And a live recording's container says how long it really is.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from stream import launch
from stream.config.settings import load_settings
from stream.runtime.run import run
from stream.sinks import sender as sender_module
from stream.sinks.protocols import has_output_protocol
from tests.footage import free_udp_port
from tests.media import run_bounded

ROOT = Path(__file__).resolve().parents[1]
SIDE = (48, 128)  # the side-by-side of a 64x48 source: height, width
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe are not installed")


def live_settings(output: str | Path, model: Path, frames: int, fps: int = 15):
    return load_settings(ROOT / "config.yaml", {
        "source": "synthetic:64x48", "output": output, "headless": True, "mode": "live", "max_frames": frames,
        "capture": {"fps": fps}, "model": {"onnx": model, "threads": 2}, "display": {"progress": False}})


def decoded(data: bytes | Path, container_format: str | None = None) -> list[tuple[int, int]]:
    """The (height, width) of every frame a receiver decodes from ``data``."""
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(source, format=container_format) as container:
        return [(frame.height, frame.width) for frame in container.decode(video=0)]


def assert_low_latency(path: Path) -> None:
    """No B-frames (every packet decodes in presentation order) and a keyframe every second of stream time
    (the first frame at or after each second: at 3 depth fps that is up to a frame interval later)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(float(p.pts * p.time_base), p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    times = [t for t, _ in packets]
    assert times == sorted(times)
    frame_gap = max(b - a for a, b in zip(times, times[1:]))
    keys = [t for t, key in packets if key] + [times[-1]]
    assert max(b - a for a, b in zip(keys, keys[1:])) <= 1.0 + frame_gap + 0.01, (keys, frame_gap)


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_bound(port: int, table: str, timeout: float = 10.0) -> None:
    """Until a socket on 127.0.0.1:``port`` is bound (UDP) or listening (TCP), per /proc/net (or a pause elsewhere)."""
    path = Path("/proc/net") / table
    if not path.exists():
        time.sleep(1.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if local.endswith(f":{port:04X}") and (table == "udp" or state == "0A"):  # 0A: listening
                return
        time.sleep(0.05)
    pytest.fail(f"nothing bound {table} port {port} within {timeout}s")


# -- refused before any work ------------------------------------------------------------------


def refusal_cases() -> list[tuple[str, str]]:
    cases = [("http://example.com/live", "http:// is not a stream this app sends"),
             ("foo://bar/baz", "foo:// is not a stream this app sends"),
             ("udp://127.0.0.1", "give the receiver as udp://HOST:PORT"),
             ("pipe:1.mkv", "standard output is written as --output -")]
    if not has_output_protocol("srt"):
        cases.append(("srt://127.0.0.1:9000", "the FFmpeg inside PyAV here was built without srt"))
    return cases


@pytest.mark.parametrize("output,needle", refusal_cases())
def test_an_output_that_cannot_be_sent_is_one_line_as_given_before_the_model(tmp_path, capsys, monkeypatch,
                                                                             output, needle) -> None:
    monkeypatch.chdir(tmp_path)
    code = launch.main(["--source", "synthetic:64x48", "--max-frames", "2", "--headless", "-q",
                        "--model", str(tmp_path / "no-model.onnx"), "--output", output])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: --output {output}: ") and needle in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # no "udp:" folder, no file named after the URL


def test_srt_is_sent_where_the_bundled_ffmpeg_has_it() -> None:
    if not has_output_protocol("srt"):
        pytest.skip("the FFmpeg inside PyAV has no SRT here (the refusal is tested above)")
    from stream.sinks.targets import check_stream_target, parse_output

    target = parse_output("srt://127.0.0.1:9000")
    check_stream_target(target)  # taken: sent as MPEG-TS like UDP
    assert target.container == "mpegts" and target.connected


# -- received by FFmpeg -----------------------------------------------------------------------


@needs_ffmpeg
def test_udp_is_received_by_ffmpeg_as_decodable_frames(tmp_path, random_onnx) -> None:
    port = free_udp_port()
    received = tmp_path / "received.ts"
    receiver = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-y", "-i", f"udp://127.0.0.1:{port}?timeout=4000000",
                                 "-c", "copy", "-f", "mpegts", str(received)])
    try:
        wait_until_bound(port, "udp")
        result = run_bounded(lambda: run(live_settings(f"udp://127.0.0.1:{port}", random_onnx, 45)), 60)
        assert result.exit_code == 0 and result.output is None
        receiver.wait(30)
    finally:
        receiver.kill()
    sizes = decoded(received)
    assert len(sizes) >= 3 and set(sizes) == {SIDE}
    assert_low_latency(received)


def test_udp_without_a_receiver_keeps_sending(random_onnx, caplog) -> None:
    caplog.set_level(logging.INFO, logger="stream")
    port = free_udp_port()  # nobody listens: nothing can go away, so nothing ends the run
    result = run_bounded(lambda: run(live_settings(f"udp://127.0.0.1:{port}", random_onnx, 30)), 60)
    assert result.exit_code == 0 and result.finished
    messages = [r.getMessage() for r in caplog.records]
    assert not any("went away" in m for m in messages)
    sent = [m for m in messages if m.startswith("sent ") and f"udp://127.0.0.1:{port}" in m]
    assert len(sent) == 1 and int(sent[0].split()[1]) == result.stats.displayed > 0


@needs_ffmpeg
def test_rtmp_is_received_by_an_ffmpeg_server_as_decodable_frames(tmp_path, random_onnx) -> None:
    port = free_tcp_port()
    received = tmp_path / "received.flv"
    server = subprocess.Popen(["ffmpeg", "-loglevel", "quiet", "-y", "-listen", "1", "-f", "flv", "-i",
                               f"rtmp://127.0.0.1:{port}/live/key", "-c", "copy", str(received)])
    try:
        wait_until_bound(port, "tcp")
        result = run_bounded(lambda: run(live_settings(f"rtmp://127.0.0.1:{port}/live/key", random_onnx, 30)), 60)
        assert result.exit_code == 0
        server.wait(30)
    finally:
        server.kill()
    sizes = decoded(received)
    assert len(sizes) >= 3 and set(sizes) == {SIDE}


def test_rtmp_without_a_server_is_one_line_and_exit_1(tmp_path, capsys, random_onnx) -> None:
    port = free_tcp_port()  # nobody listens there
    code = launch.main(["--source", "synthetic:64x48", "--max-frames", "5", "--headless", "-q", "--model", str(random_onnx),
                        "--output", f"rtmp://127.0.0.1:{port}/live/key"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(lines) == 1 and f"cannot send to rtmp://127.0.0.1:{port}/live/key (" in lines[0], lines


def test_standard_output_carries_only_the_stream(tmp_path, random_onnx) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "--source", "synthetic:64x48", "--mode", "live",
                           "--fps", "15", "--max-frames", "30", "--headless", "--model", str(random_onnx), "--output", "-",
                           "--engine", "onnxruntime", "--precision", "fp32"],
                          capture_output=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr.decode()
    data = proc.stdout
    # nothing else was printed there: MPEG-TS packets of 188 bytes, each starting with its sync byte
    assert data and len(data) % 188 == 0 and all(data[i] == 0x47 for i in range(0, len(data), 188))
    sizes = decoded(data, "mpegts")
    assert len(sizes) >= 2 and set(sizes) == {SIDE}
    assert f"sent {len(sizes)} frames to standard output" in proc.stderr.decode()


def read_fifo(path: Path, into: bytearray, limit: int | None = None) -> threading.Thread:
    """A reader on the named pipe: everything until the end, or ``limit`` bytes and then it closes."""
    def body() -> None:
        with open(path, "rb") as pipe:
            while limit is None or len(into) < limit:
                chunk = pipe.read(4096)
                if not chunk:
                    return
                into.extend(chunk)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_a_named_pipe_is_opened_once_and_read_to_its_end(tmp_path, random_onnx) -> None:
    fifo = tmp_path / "depth.fifo"
    os.mkfifo(fifo)
    data = bytearray()
    reader = read_fifo(fifo, data)  # waiting before the run: a check that opened and closed the pipe would end it
    result = run_bounded(lambda: run(live_settings(fifo, random_onnx, 30)), 60)
    reader.join(10)
    assert result.exit_code == 0 and not reader.is_alive()
    sizes = decoded(bytes(data), "mpegts")
    assert 1 <= len(sizes) <= result.stats.displayed and set(sizes) == {SIDE}
    assert fifo.exists() and fifo.is_fifo()  # still the user's pipe, not replaced by a file


def test_a_receiver_that_goes_away_ends_the_run_in_one_line(tmp_path, random_onnx, caplog) -> None:
    caplog.set_level(logging.INFO, logger="stream")
    fifo = tmp_path / "depth.fifo"
    os.mkfifo(fifo)
    data = bytearray()
    reader = read_fifo(fifo, data, limit=2000)  # takes the first frame or so, then closes
    result = run_bounded(lambda: run(live_settings(fifo, random_onnx, 600, fps=30)), 60)
    reader.join(10)
    assert result.exit_code == 0
    assert result.stats.captured < 600  # ended early, not after the 20 s the source would run
    gone = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 1 and gone[0].startswith(f"the receiver of the named pipe {fifo} went away (")


def test_a_receiver_that_stops_reading_never_holds_up_the_pipeline(tmp_path, random_onnx, caplog, monkeypatch) -> None:
    caplog.set_level(logging.INFO, logger="stream")
    monkeypatch.setattr(sender_module, "CLOSE_SECONDS", 0.5)
    fifo = tmp_path / "depth.fifo"
    os.mkfifo(fifo)
    stalled = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read: the pipe fills and writes block
    try:
        # large frames fill the pipe's 64 KiB at once
        settings = live_settings(fifo, random_onnx, 40, fps=30).model_copy(update={"source": "synthetic:640x480"})
        settings.video.crf = 0
        result = run_bounded(lambda: run(settings), 60)
        assert result.exit_code == 0 and result.finished  # the source ran to its end
        messages = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("the named pipe") and "took no data" in m for m in messages), messages
    finally:
        os.close(stalled)  # the blocked write now fails and the sender thread ends


# -- a live recording's duration is its frames' ---------------------------------------------


@needs_ffmpeg
def test_a_live_recording_lasts_as_long_as_its_frames(tmp_path, random_onnx) -> None:
    out = tmp_path / "live.mp4"
    assert run_bounded(lambda: run(live_settings(out, random_onnx, 45)), 60).exit_code == 0
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:packet=pts_time,duration_time",
                                       "-select_streams", "v:0", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    last = max(float(p["pts_time"]) + float(p.get("duration_time", 0)) for p in probe["packets"])
    interval = 1 / 15
    assert abs(float(probe["format"]["duration"]) - last) <= 1.5 * interval, (probe["format"], last)
