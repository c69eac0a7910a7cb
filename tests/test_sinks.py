"""Sinks: video files (timing, odd sizes, audio copy, crash safety), output checks, null."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.core.errors import OutputError
from stream.core.frames import Frame
from stream.sinks import NullSink, VideoFileSink, check_output_path
from stream.sources import open_source
from tests.media import make_video, nearest_pattern, pattern_frame, read_video

ROOT = Path(__file__).resolve().parents[1]


def pattern(index: int, width: int = 96, height: int = 64, fps: int = 25) -> Frame:
    return Frame(pattern_frame(index, width, height), index, pts=index, time_base=Fraction(1, fps))


def video_pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def test_writes_every_frame_as_h264_at_source_rate(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with VideoFileSink(out, fps=25.0, time_base=Fraction(1, 25)) as sink:
        for index in range(20):
            sink.write(pattern(index))
    assert sink.frames_written == 20
    frames, fps, has_audio, _ = read_video(out)
    assert len(frames) == 20 and fps == 25 and not has_audio
    assert [nearest_pattern(f, range(20)) for f in frames] == list(range(20))
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt, context.width, context.height) == ("h264", "yuv420p", 96, 64)


@pytest.mark.parametrize("suffix,fps", [(".mkv", 30), (".mov", 24), (".avi", 25)])
def test_other_containers_keep_the_rate(tmp_path: Path, suffix: str, fps: int) -> None:
    out = tmp_path / f"out{suffix}"
    with VideoFileSink(out, fps=float(fps), time_base=Fraction(1, fps)) as sink:
        for index in range(8):
            sink.write(pattern(index, fps=fps))
    frames, got_fps, _, _ = read_video(out)
    assert len(frames) == 8 and got_fps == fps


def test_timestamps_come_from_the_frames(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 96, 64, 10, fps=20)
    out = tmp_path / "out.mp4"
    with open_source(str(clip)) as source, VideoFileSink(out, source.info.fps, source.info.time_base) as sink:
        kept = [frame for frame in iter(source.read, None) if frame.index % 3 == 0]  # as if the rest were dropped
        for frame in kept:
            sink.write(frame)
    assert video_pts_seconds(out) == pytest.approx([f.seconds for f in kept])


def test_frames_without_timestamps_are_placed_by_count(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with VideoFileSink(out, fps=10.0, time_base=None) as sink:
        for index in range(5):
            sink.write(Frame(pattern_frame(index, 64, 48), index))
    assert video_pts_seconds(out) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_repeated_timestamps_still_increase(tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    with VideoFileSink(out, fps=30.0, time_base=Fraction(1, 1000)) as sink:
        for index in range(6):
            sink.write(Frame(pattern_frame(index, 64, 48), index, pts=100 * (index // 2), time_base=Fraction(1, 1000)))
    seconds = video_pts_seconds(out)
    assert len(seconds) == 6 and all(b > a for a, b in zip(seconds, seconds[1:]))


def test_odd_size_is_padded_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with VideoFileSink(out, fps=25.0, time_base=Fraction(1, 25)) as sink:
        for index in range(3):
            sink.write(pattern(index, 175, 143))
    frames, _, _, _ = read_video(out)
    assert len(frames) == 3 and frames[0].shape == (144, 176, 3)
    error = np.abs(frames[1][:143, :175].astype(int) - pattern_frame(1, 175, 143).astype(int)).mean()
    assert error < 4


def test_audio_is_copied_untouched(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 96, 64, 25, fps=25, audio=True)
    out = tmp_path / "out.mp4"
    with open_source(str(clip)) as source:
        assert source.info.audio_path == str(clip)
        with VideoFileSink(out, source.info.fps, source.info.time_base, audio_from=source.info.audio_path) as sink:
            for frame in iter(source.read, None):
                sink.write(frame)
    frames, fps, has_audio, codec = read_video(out)
    assert len(frames) == 25 and fps == 25 and has_audio and codec == "aac"
    with av.open(str(clip)) as original, av.open(str(out)) as copy:
        a, b = original.streams.audio[0], copy.streams.audio[0]
        assert (a.codec_context.sample_rate, a.codec_context.channels, a.codec_context.extradata) == (
            b.codec_context.sample_rate, b.codec_context.channels, b.codec_context.extradata)
        source_packets = [bytes(p) for p in original.demux(a) if p.size]
        copied_packets = [bytes(p) for p in copy.demux(b) if p.size]
    assert copied_packets == source_packets and sink.audio_packets_written == len(source_packets)


def test_audio_copy_stops_at_the_end_of_the_video(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 96, 64, 50, fps=25, audio=True)
    out = tmp_path / "out.mkv"
    with open_source(str(clip)) as source, VideoFileSink(out, 25.0, source.info.time_base, audio_from=str(clip)) as sink:
        for _ in range(10):
            sink.write(source.read())
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        last = max(float(p.pts * p.time_base) for p in container.demux(audio) if p.size)
    assert last < 0.45


def test_unavailable_codec_falls_back_to_mpeg4(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="stream.sinks"), VideoFileSink(out, 25.0, Fraction(1, 25), codec="no-such-encoder") as sink:
        for index in range(4):
            sink.write(pattern(index))
    assert "mpeg4" in caplog.text and len(caplog.records) == 1
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert len(read_video(out)[0]) == 4


def test_file_is_playable_after_an_exception_mid_write(tmp_path: Path) -> None:
    out = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError), VideoFileSink(out, fps=25.0, time_base=Fraction(1, 25)) as sink:
        for index in range(30):
            if index == 12:
                raise RuntimeError("inference blew up")
            sink.write(pattern(index))
    assert sink.frames_written == 12
    frames, fps, _, _ = read_video(out)
    assert len(frames) == 12 and fps == 25
    sink.close()  # idempotent
    with pytest.raises(OutputError):
        sink.write(pattern(0))


def test_sink_that_saw_no_frame_writes_nothing(tmp_path: Path) -> None:
    with VideoFileSink(tmp_path / "none.mp4", fps=25.0, time_base=None):
        pass
    assert not (tmp_path / "none.mp4").exists()


# -- output path checks -------------------------------------------------------------------


def test_check_output_path_accepts_a_normal_file(tmp_path: Path) -> None:
    for suffix in (".mp4", ".mkv", ".mov", ".avi", ".webm"):
        check_output_path(tmp_path / f"out{suffix}")


@pytest.mark.parametrize("case,needle", [
    ("directory", "is a folder"),
    ("bad-extension", "extension"),
    ("under-a-file", "not a folder"),
])
def test_check_output_path_rejects(tmp_path: Path, case: str, needle: str) -> None:
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "dir.mp4").mkdir()
    path = {
        "directory": tmp_path / "dir.mp4",
        "bad-extension": tmp_path / "out.xyz",
        "under-a-file": tmp_path / "plain.txt" / "out.mp4",
    }[case]
    with pytest.raises(OutputError, match=needle) as caught:
        check_output_path(path)
    message = str(caught.value)
    assert "\n" not in message and (path.name in message or path.parent.name in message)


def test_check_output_path_rejects_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not stop writing (see the under-a-file case)")
        with pytest.raises(OutputError, match="not writable"):
            check_output_path(locked / "out.mp4")
    finally:
        locked.chmod(0o700)


# -- null and window --------------------------------------------------------------------


def test_null_sink_counts() -> None:
    with NullSink() as sink:
        for index in range(7):
            sink.write(pattern(index))
    assert sink.frames == sink.frames_written == 7
