"""Sources: synthetic scene, files and HTTP streams through PyAV, webcam failure; and the parts
(pacing, timeline, reconnect, truncation) unit-tested alone with fake clocks.

Every test that touches FFmpeg with bad input runs under ``run_bounded`` so a hang fails the
test instead of stalling the suite. Real-world footage defects are in test_footage_sources.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.core.errors import SourceError, SourceLostError
from stream.sources import PacedSource, Pacer, SourceKind, SourceOptions, SyntheticSource, WebcamSource, open_source
from stream.sources.av_open import open_video
from stream.sources.live_audio import LiveAudio
from stream.sources.reconnect import Reconnector
from stream.sources.replay import Seen, SeenFrames
from stream.sources.timeline import Timeline
from stream.sources.truncation import Declared, truncation
from tests.footage import live_http
from tests.media import make_video, nearest_pattern, run_bounded

LIMIT = 15.0


def drain(source) -> list:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def read_all(spec: str, options: SourceOptions | None = None) -> list:
    def run() -> list:
        with open_source(spec, options) as source:
            return drain(source)

    return run_bounded(run, LIMIT)


def assert_one_line_naming(exc: BaseException, name: str) -> None:
    message = str(exc)
    assert "\n" not in message and name in message, message


# -- synthetic ------------------------------------------------------------------------


def test_synthetic_frames_carry_index_and_timestamps() -> None:
    with SyntheticSource(96, 64, fps=25.0, num_frames=5) as source:
        frames = drain(source)
        assert source.info.time_base == Fraction(1, 25) and not source.info.is_live
        assert source.info.kind is SourceKind.SYNTHETIC
    assert [f.index for f in frames] == [f.pts for f in frames] == list(range(5))
    assert all(f.time_base == Fraction(1, 25) and f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8
               for f in frames)
    assert frames[3].seconds == pytest.approx(0.12)
    assert not np.array_equal(frames[0].image, frames[4].image)
    again = SyntheticSource(96, 64, fps=25.0, num_frames=5).read()
    assert np.array_equal(again.image, frames[0].image)


class FakeClock:
    """A clock that only moves when slept on (or told to): pacing tests without real time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_paced_source_delivers_frames_at_their_timestamps() -> None:
    clock = FakeClock()
    inner = SyntheticSource(64, 48, fps=20.0, num_frames=5)
    with PacedSource(inner, Pacer(clock, clock.sleep)) as source:
        assert source.info is inner.info and not source.info.is_live
        frames = [source.read() for _ in range(5)]
        assert source.read() is None
    assert clock.sleeps == [0.05] * 4
    assert [f.captured_at for f in frames] == pytest.approx([100.0, 100.05, 100.1, 100.15, 100.2])
    assert [f.pts for f in frames] == list(range(5)) and [f.index for f in frames] == list(range(5))


def test_paced_source_re_anchors_instead_of_bursting_when_the_reader_falls_behind() -> None:
    clock = FakeClock()
    with PacedSource(SyntheticSource(64, 48, fps=10.0, num_frames=6), Pacer(clock, clock.sleep)) as source:
        source.read()
        source.read()
        clock.now += 1.0  # the reader was busy for ten frame intervals
        late = source.read()
        rest = [source.read() for _ in range(3)]
    assert late.captured_at == pytest.approx(101.1)  # delivered at once, not waited for
    assert clock.sleeps == [0.1, 0.1, 0.1, 0.1]  # then one interval each: no catch-up burst
    assert [f.captured_at for f in rest] == pytest.approx([101.2, 101.3, 101.4])


def test_paced_source_closes_what_it_wraps() -> None:
    closed: list[bool] = []
    inner = SyntheticSource(64, 48, num_frames=1)
    inner.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with PacedSource(inner):
        pass
    assert closed == [True]


def test_synthetic_rate_comes_from_options() -> None:
    with open_source("synthetic:64x48", SourceOptions(fps=100)) as source:
        assert (source.info.width, source.info.height, source.info.fps) == (64, 48, 100.0)
        assert source.info.kind is SourceKind.SYNTHETIC and not source.info.is_live
    with open_source("synthetic") as source:
        assert (source.info.width, source.info.height, source.info.fps) == (640, 480, 30.0)


def test_open_source_rejects_bad_synthetic_size() -> None:
    with pytest.raises(SourceError, match="synthetic:640x480"):
        open_source("synthetic:big")


# -- files ------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height,container", [(160, 120, "mp4"), (176, 144, "mp4"), (640, 272, "mkv")])
def test_file_gives_every_frame_in_order(tmp_path: Path, width: int, height: int, container: str) -> None:
    clip = make_video(tmp_path / f"clip.{container}", width, height, 12, fps=25)
    with open_source(str(clip)) as source:
        info = source.info
        frames = run_bounded(lambda: drain(source), LIMIT)
    assert (info.width, info.height, info.fps, info.is_live, info.audio_path) == (width, height, 25.0, False, None)
    assert info.frame_count == 12 and info.time_base == frames[0].time_base and info.kind is SourceKind.FILE
    assert len(frames) == 12 and [f.index for f in frames] == list(range(12))
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    assert frames[5].seconds == pytest.approx(0.2)
    assert all(f.image.shape == (height, width, 3) for f in frames)
    assert [nearest_pattern(f.image, range(12)) for f in frames] == list(range(12))


def test_hd_file_with_audio_reports_audio_path(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "hd.mp4", 1280, 720, 4, fps=30, audio=True)
    with open_source(str(clip)) as source:
        assert source.info.audio_path == str(clip) and source.info.frame_count == 4
        frames = run_bounded(lambda: drain(source), LIMIT)
    assert len(frames) == 4 and frames[0].image.shape == (720, 1280, 3)


def test_file_played_live_is_paced_to_its_timestamps(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "fast.mp4", 64, 48, 10, fps=50)
    clock = FakeClock()
    with PacedSource(open_source(str(clip)), Pacer(clock, clock.sleep)) as source:
        assert source.info.kind is SourceKind.FILE and not source.info.is_live
        frames = run_bounded(lambda: drain(source), LIMIT)
    assert len(frames) == 10 and clock.sleeps == [0.02] * 9


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError) as caught:
        open_source(str(missing))
    assert_one_line_naming(caught.value, "nope.mp4")


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder") as caught:
        open_source(str(tmp_path))
    assert_one_line_naming(caught.value, tmp_path.name)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n" * 50)  # FFmpeg alone would open this as ANSI art
    with pytest.raises(SourceError, match="is not a video file PyAV/FFmpeg can read") as caught:
        read_all(str(notes))
    assert_one_line_naming(caught.value, "notes.txt")


def test_random_bytes_are_not_a_video(tmp_path: Path) -> None:
    blob = tmp_path / "random.mp4"
    blob.write_bytes(np.random.default_rng(7).bytes(20_000))
    with pytest.raises(SourceError, match="is not a video file PyAV/FFmpeg can read") as caught:
        read_all(str(blob))
    assert_one_line_naming(caught.value, "random.mp4")


def audio_only_mp4(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def video_stream_without_frames(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


@pytest.mark.parametrize("name", ["audio-only.mp4", "no-frames.avi", "no-frames.mkv", "empty.mp4"])
def test_container_without_video_frames(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "audio-only.mp4":
        audio_only_mp4(path)
    elif name == "empty.mp4":
        path.write_bytes(b"")
    else:
        video_stream_without_frames(path)
    with pytest.raises(SourceError) as caught:
        read_all(str(path))
    assert_one_line_naming(caught.value, name)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_first_half_of_a_file_errors_or_ends_cleanly(tmp_path: Path, container: str) -> None:
    clip = make_video(tmp_path / f"whole.{container}", 160, 120, 30)
    cut = tmp_path / f"half.{container}"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    try:
        frames = read_all(str(cut))
    except SourceError as exc:
        assert_one_line_naming(exc, cut.name)  # mp4 keeps its index at the end: nothing to read
    else:
        assert 0 < len(frames) < 30
        assert [nearest_pattern(f.image, range(30)) for f in frames] == list(range(len(frames)))


def test_damaged_packet_names_the_file_and_the_moment(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", 160, 120, 30)
    with av.open(str(clip)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(clip.read_bytes())
    pos, size = packets[12]
    data[pos + 4:pos + size] = np.random.default_rng(12).bytes(size - 4)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    # the damaged frame is left out, the rest is read to the end, and then the damage is said
    with pytest.raises(SourceError, match=r"1 frame was damaged \(decoder errors at 00:00\.48\).*left out") as caught:
        read_all(str(damaged))
    assert_one_line_naming(caught.value, "damaged.mp4")


def test_fuzzed_inputs_error_cleanly_or_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(2024)
    originals = [make_video(tmp_path / "fuzz.mkv", 96, 64, 20).read_bytes(),
                 make_video(tmp_path / "fuzz.mp4", 96, 64, 20).read_bytes()]
    outcomes = {"error": 0, "frames": 0}
    for case in range(30):
        original = originals[case % 2]
        kind = case % 3
        if kind == 0:
            blob = rng.bytes(int(rng.integers(1, 30_000)))
        elif kind == 1:
            blob = original[: int(rng.integers(1, len(original)))]
        else:
            blob = bytearray(original)
            start = int(rng.integers(0, len(blob) - 64))
            blob[start:start + 64] = rng.bytes(64)
            blob = bytes(blob)
        path = tmp_path / f"case{case}{'.mkv' if case % 2 == 0 else '.mp4'}"
        path.write_bytes(blob)
        try:
            frames = read_all(str(path))
        except SourceError as exc:
            assert_one_line_naming(exc, path.name)
            outcomes["error"] += 1
        else:
            assert 0 < len(frames) <= 20
            outcomes["frames"] += 1
    assert outcomes["error"] and outcomes["frames"]


# -- network ----------------------------------------------------------------------------


def test_live_http_stream_is_a_stream(tmp_path: Path) -> None:
    payload = make_video(tmp_path / "net.ts", 160, 120, 40, fps=20).read_bytes()
    with live_http([payload]) as (base, _requests), open_source(f"{base}/net.ts", SourceOptions(reconnect_attempts=0)) as source:
        info = source.info
        assert info.kind is SourceKind.STREAM and info.is_live and info.frame_count is None
        assert info.audio_path is None and info.fps == 20
        frames = run_bounded(lambda: drain(source), LIMIT)
    assert len(frames) == 40 and all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    assert [nearest_pattern(f.image, range(40)) for f in frames] == list(range(40))


def test_live_stream_that_ends_reconnects_then_is_lost(tmp_path: Path) -> None:
    payload = make_video(tmp_path / "net.ts", 96, 64, 30, fps=20).read_bytes()
    restarted = make_video(tmp_path / "again.ts", 128, 96, 30, fps=20).read_bytes()  # another sender, pts from zero
    with live_http([payload, restarted, "404"]) as (base, requests):
        url = f"{base}/net.ts"
        source = open_source(url, SourceOptions(reconnect_attempts=2, reconnect_backoff=0.01))
        first = run_bounded(lambda: [source.read() for _ in range(45)], LIMIT)  # past the end: reconnected
        with source, pytest.raises(SourceLostError) as caught:
            run_bounded(lambda: drain(source), LIMIT)
    assert [f.index for f in first] == list(range(45))
    assert [nearest_pattern(f.image, range(30)) for f in first[28:32]] == [28, 29, 0, 1]
    assert all(b.pts > a.pts for a, b in zip(first, first[1:]))  # the timeline continues across the reconnect
    assert_one_line_naming(caught.value, url)
    assert "2 reconnect attempt" in str(caught.value) and len(requests) == 4


def test_reconnect_that_only_replays_delivers_nothing_and_counts_as_an_attempt(tmp_path: Path) -> None:
    payload = make_video(tmp_path / "net.ts", 96, 64, 30, fps=20).read_bytes()
    with live_http([payload]) as (base, requests):  # every reconnect sends the same frames again
        url = f"{base}/net.ts"
        with open_source(url, SourceOptions(reconnect_attempts=2, reconnect_backoff=0.01)) as source, \
                pytest.raises(SourceLostError) as caught:
            frames: list = []

            def read_until_lost() -> None:
                while (frame := source.read()) is not None:
                    frames.append(frame)

            run_bounded(read_until_lost, LIMIT)
    assert [nearest_pattern(f.image, range(30)) for f in frames] == list(range(30))  # each frame once
    assert_one_line_naming(caught.value, url)
    assert "only frames already seen" in str(caught.value) and "2 reconnect attempt" in str(caught.value)
    assert len(requests) == 3


def test_dead_url_fails_fast_with_its_name() -> None:
    with pytest.raises(SourceError) as caught:
        options = SourceOptions(reconnect_attempts=1, reconnect_backoff=0.01)
        run_bounded(lambda: open_source("http://127.0.0.1:9/stream.mp4", options), 5)
    assert_one_line_naming(caught.value, "http://127.0.0.1:9/stream.mp4")


def test_password_in_url_is_not_shown() -> None:
    with pytest.raises(SourceError) as caught:
        run_bounded(lambda: open_source("rtsp://admin:hunter2@127.0.0.1:9/cam"), 5)
    assert "hunter2" not in str(caught.value) and "admin:***@127.0.0.1" in str(caught.value)


def test_stalled_stream_times_out_instead_of_hanging(tmp_path: Path) -> None:
    data = make_video(tmp_path / "stall.ts", 96, 64, 40, fps=20).read_bytes()
    with live_http([("stall", data[: len(data) // 2])]) as (base, _requests):
        url = f"{base}/stall.ts"
        with pytest.raises((SourceLostError, SourceError)) as caught:
            def run() -> None:
                options = SourceOptions(reconnect_attempts=0, open_timeout=0.5, read_timeout=0.5)
                with open_source(url, options) as source:
                    drain(source)
            run_bounded(run, 10)
    assert_one_line_naming(caught.value, url)


# -- webcam -----------------------------------------------------------------------------


def test_missing_webcam_says_what_was_tried() -> None:
    with pytest.raises(SourceError) as caught:
        run_bounded(lambda: open_source("99"), 10)
    message = str(caught.value)
    assert "\n" not in message and "webcam 99" in message and "--source" in message and "/dev/video" in message
    assert "V4L2" in message or "any" in message
    with pytest.raises(SourceError):
        run_bounded(lambda: WebcamSource(99), 10)


class _FakeCapture:
    """Stands in for ``cv2.VideoCapture``: opens, delivers ``frames`` pictures, then nothing."""

    frames = 3

    def __init__(self, index: int, backend: int) -> None:
        self.left = self.frames
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        import cv2

        return {cv2.CAP_PROP_FRAME_WIDTH: 64, cv2.CAP_PROP_FRAME_HEIGHT: 48, cv2.CAP_PROP_FPS: 30}.get(prop, 0.0)

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((48, 64, 3), np.uint8)

    def release(self) -> None:
        pass


def test_webcam_frames_carry_milliseconds_and_a_dead_camera_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    monkeypatch.setattr("stream.sources.webcam.cv2.VideoCapture", _FakeCapture)
    with WebcamSource(0, SourceOptions(width=64, height=48, fps=30, read_timeout=0.2)) as camera:
        assert camera.capture.props[cv2.CAP_PROP_BUFFERSIZE] == 1
        assert (camera.info.width, camera.info.height, camera.info.fps, camera.info.is_live) == (64, 48, 30.0, True)
        frames = [camera.read() for _ in range(3)]
        assert all(f.time_base == Fraction(1, 1000) for f in frames)
        assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
        start = time.perf_counter()
        with pytest.raises(SourceLostError, match="webcam 0") as caught:
            run_bounded(camera.read, 5)
        assert 0.15 < time.perf_counter() - start < 3 and "\n" not in str(caught.value)


# -- the parts, alone -------------------------------------------------------------------


def test_timeline_keeps_a_files_own_timestamps_and_repairs_steps_back(caplog: pytest.LogCaptureFixture) -> None:
    timeline = Timeline(Fraction(1, 25), 25.0, "clip.ts", wall_clock=False)
    stamps = [timeline.stamp(pts, Fraction(1, 25), 0.0) for pts in (0, 1, 2, 40, 41, 3, 4, None)]
    assert stamps == [0, 1, 2, 40, 41, 42, 43, 44]  # a file's gap is its timing; a step back follows on
    assert sum("step back" in r.message for r in caplog.records) == 1
    other = Timeline(Fraction(1, 1000), 25.0, "clip", wall_clock=False)
    assert [other.stamp(pts, Fraction(1, 90000), 0.0) for pts in (9000, 12600)] == [100, 140]  # rescaled


def test_timeline_of_a_live_stream_bridges_restarts_with_arrival_times() -> None:
    timeline = Timeline(Fraction(1, 1000), 25.0, "udp://x", wall_clock=True)

    def stamps(*frames: tuple[int, float]) -> list[int]:
        return [timeline.stamp(pts, Fraction(1, 1000), arrival) for pts, arrival in frames]

    assert stamps((1400, 10.0), (1440, 10.04), (1480, 10.08)) == [1400, 1440, 1480]
    # the sender restarted from zero and 0.75 s passed: go on from the wall clock, then by its pts
    assert stamps((1400, 10.83), (1440, 10.87), (1480, 10.91)) == [2230, 2270, 2310]
    # a leap forward of many frame intervals is a discontinuity too; a small one is the stream's timing
    assert stamps((99_000, 11.0), (99_120, 11.1)) == [2400, 2520]
    # a reconnect starts a new timeline even when its pts look continuous; at least one interval on
    timeline.restart()
    assert stamps((99_160, 11.1)) == [2560]
    # the last frame before an outage held back until the restart (FFmpeg's parser does that):
    # the outage still shows, measured from the stream's usual delay, not from that late frame
    assert stamps((99_200, 11.14), (99_240, 12.0), (0, 12.04)) == [2600, 2640, 12_040 - 8_540]  # usual lag 8.54 s


def test_reconnect_backs_off_exponentially_and_counts_until_a_frame_arrives() -> None:
    sleeps: list[float] = []
    reconnector = Reconnector("rtsp://cam", attempts=3, backoff=0.5, sleep=sleeps.append)
    outcomes = iter([SourceError("refused"), "open"])

    def reopen() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert reconnector.reconnect("timed out", reopen) == "open"
    assert sleeps == [0.5, 1.0]
    # reopened, but no frame came: the next drop goes on counting (attempt 3), then gives up
    with pytest.raises(SourceLostError, match=r"rtsp://cam stopped delivering \(refused\) and 3 reconnect") as caught:
        reconnector.reconnect("ended", lambda: (_ for _ in ()).throw(SourceError("refused")))
    assert sleeps == [0.5, 1.0, 2.0] and "\n" not in str(caught.value)
    reconnector.delivered()
    assert reconnector.reconnect("ended", lambda: "back") == "back" and sleeps[-1] == 0.5


def test_seen_frames_tell_a_replay_from_a_restarted_sender() -> None:
    seen, tb = SeenFrames(), Fraction(1, 90000)
    pictures = [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(10)]
    assert {seen.check(i * 4500, tb, pictures[i]) for i in range(6)} == {Seen.CONTINUES}
    seen.reconnected()  # a reopened playlist hands back frames 3..5, then new ones on the same clock
    assert [seen.check(i * 4500, tb, pictures[i]) for i in range(3, 8)] == [Seen.REPLAYED] * 3 + [Seen.CONTINUES] * 2
    seen.reconnected()  # a restarted sender: its timestamps start again, its pictures are new
    assert [seen.check(i * 4500, tb, pictures[9 - i]) for i in range(3)] == [Seen.RESTARTED, Seen.CONTINUES,
                                                                            Seen.CONTINUES]
    seen.reconnected(same_clock=True)  # reopened finished: nothing up to the newest comes again, remembered or not
    assert seen.check(0, tb, pictures[5]) is Seen.REPLAYED and seen.check(3 * 4500, tb, pictures[1]) is Seen.CONTINUES


def test_live_sound_waits_for_the_picture_goes_only_forward_and_is_bounded(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "live.ts", 96, 64, 10, fps=20, audio=True)
    video = open_video(str(clip), "live.ts", SourceOptions())
    audio = LiveAudio("live.ts", limit=4)
    try:
        audio.connect(video)
        assert video.on_audio is not None and audio.stream is not None
        packets = [p for p in video.container.demux(video.audio_stream) if p.size][:8]
        original, tick = [p.pts for p in packets], packets[0].time_base
        for packet in packets[:2]:
            video.on_audio(packet)
        assert audio.next_packet() is None  # no picture yet: the sound waits for its shift
        audio.follow(Fraction(1, 2))  # the pictures are placed 0.5 s later: so is their sound
        first = audio.next_packet()
        assert first is not None and first.pts == original[0] + round(Fraction(1, 2) / tick)
        for packet in packets[2:]:
            video.on_audio(packet)
        audio.follow(Fraction(-10))  # a restart placed earlier: sound that would go back in time is dropped
        video.on_audio(packets[0])
        queued = [audio.next_packet() for _ in range(6)]
        assert queued[4:] == [None, None]  # bounded (4): the oldest went, the newest stayed
        assert [q.pts for q in queued[:4]] == [pts + round(Fraction(1, 2) / tick) for pts in original[4:]]
    finally:
        audio.end()
        video.close()


def test_reconnecting_off_is_said_so() -> None:
    with pytest.raises(SourceLostError, match="reconnecting is off"):
        Reconnector("udp://x", attempts=0, backoff=0.1, sleep=lambda _s: None).reconnect("ended", lambda: None)


@pytest.mark.parametrize("declared,packets,reached,expected", [
    (Declared(30, 1.2), 30, 1.2, None),  # complete
    (Declared(30, 1.2), 12, 0.48, "decoded 12 of 30 frames"),  # cut
    (Declared(30, 0.8), 20, 0.8, None),  # an edit list hid 10 frames: the duration is whole
    (Declared(30, None), 29, None, None),  # within the tolerance
    (Declared(0, 2.0), 0, 1.0, "decoded 25 frames (1.00s of the 2.00s its header declares)"),
    (Declared(0, None), 0, 1.0, None),  # MPEG-TS: nothing declared, nothing to check
])
def test_truncation_compares_the_header_with_what_was_read(declared: Declared, packets: int, reached: float | None,
                                                            expected: str | None) -> None:
    assert truncation(declared, packets, reached, decoded=25 if packets == 0 else packets, fps=25.0) == expected


def test_warnings_go_through_logging_not_print(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                               capsys: pytest.CaptureFixture) -> None:
    payload = make_video(tmp_path / "net.ts", 96, 64, 30, fps=20).read_bytes()
    with caplog.at_level(logging.WARNING), live_http([payload, "404"]) as (base, _requests):
        options = SourceOptions(reconnect_attempts=1, reconnect_backoff=0.01)
        with open_source(f"{base}/net.ts", options) as source, pytest.raises(SourceLostError):
            run_bounded(lambda: drain(source), LIMIT)
    assert any("reconnecting in" in r.message and r.name.startswith("stream.sources") for r in caplog.records)
    assert capsys.readouterr() == ("", "")
