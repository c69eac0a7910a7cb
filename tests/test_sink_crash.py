"""Crash-safe recordings: a hard kill or a full disk still leaves a playable file.

SIGINT/SIGTERM close the sink normally (test_reliability); these tests cover what no
handler can: ``kill -9`` (also what an OOM kill or a power cut look like to the file) and a
disk that fills mid-run. The writer runs in a child process, which reports on stdout how
many frames it has written and then waits to be killed, so the count is exact.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.core.errors import OutputWriteError
from stream.core.frames import Frame
from stream.sinks import VideoFileSink
from tests.media import nearest_pattern, pattern_frame

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
W, H = 160, 120
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

WRITE_THEN_WAIT = textwrap.dedent("""
    import sys
    from fractions import Fraction
    from stream.core.frames import Frame
    from stream.sinks import VideoFileSink
    from tests.media import pattern_frame

    path, count = sys.argv[1], int(sys.argv[2])
    sink = VideoFileSink(path, fps=25.0, time_base=Fraction(1, 25))
    for index in range(count):
        sink.write(Frame(pattern_frame(index, 160, 120), index, pts=index, time_base=Fraction(1, 25)))
    print(sink.frames_written, flush=True)
    sys.stdin.read()  # never closed: the parent kills us here, mid-recording
""")


def ffprobe_frame_count(path: Path) -> int:
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr
    return int(probe.stdout.strip().split(",")[0])


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame, decoded by PyAV; any decoding error fails the test (the file must be clean)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_recording_killed_with_sigkill_keeps_all_but_the_last_two_seconds(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"killed{suffix}"
    written = 8 * FPS  # eight seconds, written as fast as the encoder goes
    proc = subprocess.Popen([sys.executable, "-c", WRITE_THEN_WAIT, str(out), str(written)], cwd=ROOT, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == str(written), proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == -signal.SIGKILL
    frames = decode_all(out)
    assert written - 2 * FPS <= len(frames) <= written
    assert ffprobe_frame_count(out) == len(frames)
    last = len(frames) - 1
    assert nearest_pattern(frames[0], range(5)) == 0
    assert nearest_pattern(frames[last], range(last - 3, last + 4)) == last


def ffprobe_duration(path: Path) -> float:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr
    return float(probe.stdout.strip())


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_closed_recording_plays_seeks_and_reports_its_duration(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"closed{suffix}"
    with VideoFileSink(out, fps=float(FPS), time_base=Fraction(1, FPS)) as sink:
        for index in range(4 * FPS):
            sink.write(Frame(pattern_frame(index, W, H), index, pts=index, time_base=Fraction(1, FPS)))
    assert ffprobe_duration(out) == pytest.approx(4.0, abs=0.05)
    assert ffprobe_frame_count(out) == 4 * FPS == len(decode_all(out))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream))
        container.seek(round(2.5 / stream.time_base), stream=stream)
        frame = next(container.decode(stream))
    # PyAV's FFmpeg reads AVI (which has no presentation times) one frame late: count from the first
    seconds = float((frame.pts - first.pts) * frame.time_base)
    assert 1.4 <= seconds <= 2.5  # a keyframe at most ~1 s before the target
    assert nearest_pattern(frame.to_ndarray(format="bgr24"), range(4 * FPS)) == round(seconds * FPS)


# -- a disk that fills mid-run -------------------------------------------------------------

FILL_UP = textwrap.dedent("""
    import json, resource, signal, sys
    from fractions import Fraction
    import numpy as np
    from stream.core.errors import OutputWriteError
    from stream.core.frames import Frame
    from stream.sinks import VideoFileSink

    path, limit = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    sink = VideoFileSink(path, fps=25.0, time_base=Fraction(1, 25))
    error = None
    try:
        with sink:
            for index in range(2000):
                noise = np.random.default_rng(index).integers(0, 256, (120, 160, 3), dtype=np.uint8)
                sink.write(Frame(noise, index, pts=index, time_base=Fraction(1, 25)))
    except OutputWriteError as exc:
        error = str(exc)
    print(json.dumps({"error": error, "written": sink.frames_written}))
""")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_file_size_limit_mid_run_is_one_output_error_and_the_file_plays(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"limited{suffix}"
    limit = 1_500_000
    proc = subprocess.run([sys.executable, "-c", FILL_UP, str(out), str(limit)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["error"] is not None and "\n" not in report["error"], report
    assert str(out) in report["error"] and "--output" in report["error"]
    assert os.path.getsize(out) <= limit
    frames = decode_all(out)
    assert 0 < len(frames) <= report["written"]
    assert ffprobe_frame_count(out) == len(frames)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs: a real ENOSPC. Needs mount rights (root in CI's container); skipped elsewhere."""
    mount = shutil.which("mount")
    point = tmp_path / "small-disk"
    point.mkdir()
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run([mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_full_disk_mid_run_says_disk_full_and_the_file_plays(small_disk: Path, suffix: str) -> None:
    out = small_disk / f"full{suffix}"
    sink = VideoFileSink(out, fps=float(FPS), time_base=Fraction(1, FPS))
    with pytest.raises(OutputWriteError) as caught, sink:
        for index in range(2000):
            noise = np.random.default_rng(index).integers(0, 256, (H, W, 3), dtype=np.uint8)
            sink.write(Frame(noise, index, pts=index, time_base=Fraction(1, FPS)))
    assert str(caught.value) == f"disk full while writing {out}; free space or choose another --output"
    frames = decode_all(out)
    assert 0 < len(frames) <= sink.frames_written
    assert ffprobe_frame_count(out) == len(frames)


CLI_WITH_SIZE_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    import stream.runtime.estimators
    from stream import launch
    from stream.core.protocols import DepthResult

    class GreyDepth:
        def estimate(self, image):
            return DepthResult(self.predict(image))

        def predict(self, image):
            return image[:, :, 0].astype("float32")

    stream.runtime.estimators.make_estimators = lambda settings, copies, threads: [GreyDepth()]
    limit = int(sys.argv.pop(1))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    sys.exit(launch.main(sys.argv[1:]))
""")


def test_filling_the_disk_stops_the_app_with_one_line_and_a_playable_output(tmp_path: Path) -> None:
    from tests.media import make_video

    clip = make_video(tmp_path / "in.mkv", W, H, 300, fps=FPS)
    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-c", CLI_WITH_SIZE_LIMIT, "150000", "--source", str(clip), "--output", str(out),
                           "--headless", "-q", "--set", "display.progress=false"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr  # a runtime failure, not bad input
    assert lines[0].startswith("error: display stage: ") and str(out) in lines[0] and "--output" in lines[0]
    frames = decode_all(out)
    assert 0 < len(frames) < 300 and ffprobe_frame_count(out) == len(frames)


def test_disk_sync_runs_in_the_background_and_once_more_at_close(tmp_path: Path) -> None:
    import threading

    from stream.sinks.crashsafe import DiskSync

    target = tmp_path / "file.bin"
    target.write_bytes(b"x")
    calls: list[int] = []
    synced = threading.Event()

    def sync(fd: int) -> None:
        calls.append(fd)
        synced.set()

    disk = DiskSync(target, interval=0.01, sync=sync)
    assert synced.wait(30)  # the thread syncs on its own
    disk.close()
    calls.clear()
    idle = DiskSync(target, interval=3600, sync=sync)
    idle.close()
    assert len(calls) == 1  # a finished file is synced once more, at close
    with pytest.raises(OSError):
        os.fstat(calls[0])  # and its descriptor closed


def run_with_size_limit(limit: int, clip: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The app writing ``out`` under a file-size limit (``resource.RLIM_INFINITY``: none) in a child, as a user runs it."""
    return subprocess.run([sys.executable, "-c", CLI_WITH_SIZE_LIMIT, str(limit), "--source", str(clip),
                           "--output", str(out), "--headless", "--set", "display.progress=false"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_size_limit_at_the_end_or_the_start_is_exit_1_and_no_undecodable_file(tmp_path: Path, suffix: str) -> None:
    """MP4/MOV write their last fragment and index at close: a limit met there once passed as "wrote", exit 0."""
    from tests.media import make_video

    clip = make_video(tmp_path / "in.mkv", W, H, 30, fps=FPS)
    out = tmp_path / f"out{suffix}"
    whole = run_with_size_limit(resource.RLIM_INFINITY, clip, out)
    assert whole.returncode == 0, whole.stderr
    for limit, some_kept in ((out.stat().st_size - 2000, True), (3000, False)):
        out.unlink(missing_ok=True)
        proc = run_with_size_limit(limit, clip, out)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 1 and len(errors) == 1, (limit, proc.stderr)
        assert str(out) in errors[0] and "largest file" in errors[0]
        assert "wrote" not in proc.stdout + proc.stderr
        if some_kept:
            frames = decode_all(out)
            assert 0 < len(frames) < 30 and ffprobe_frame_count(out) == len(frames)
        else:
            assert not out.exists()  # nothing decodable was written: nothing is left under the name
