"""The threaded pipeline on its own: ordering, dropping, bounds, errors and shutdown."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.errors import SourceError, StageError
from stream.core.frames import Frame
from stream.core.protocols import DepthResult
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineOptions


class ListSource:
    """Frames 0..n-1 with the index painted into pixel values; optionally paced."""

    def __init__(self, count: int, size=(48, 64), interval: float = 0.0, fail_at: int | None = None,
                 hold_second_frame: threading.Event | None = None) -> None:
        self.count, self.size, self.interval, self.fail_at = count, size, interval, fail_at
        self.hold_second_frame = hold_second_frame
        self.produced = 0

    def read(self) -> Frame | None:
        if self.produced >= self.count:
            return None
        if self.produced == 1 and self.hold_second_frame is not None:
            self.hold_second_frame.wait(10)  # until the consumer has started: a fast source cannot finish first
        if self.fail_at is not None and self.produced == self.fail_at:
            raise SourceError(f"clip.mp4 is truncated at frame {self.produced}; re-copy the file")
        if self.interval:
            time.sleep(self.interval)
        image = np.full((*self.size, 3), self.produced % 256, np.uint8)
        frame = Frame(image, self.produced, pts=self.produced * 2, time_base=Fraction(1, 50))
        self.produced += 1
        return frame


class FakeEstimator:
    """Depth = the frame's grey level; optionally slow, optionally failing or hanging."""

    def estimate(self, image):

        return DepthResult(self.predict(image))

    def __init__(self, delay: float = 0.0, fail_at: int | None = None, hang: bool = False, source=None,
                 wait_for_frames: int = 0) -> None:
        self.delay, self.fail_at, self.hang, self.source = delay, fail_at, hang, source
        self.wait_for_frames = wait_for_frames
        self.calls = 0
        self.taken: list[tuple[int, int]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def predict(self, image: np.ndarray) -> np.ndarray:
        if self.source is not None:
            index = int(image[0, 0, 0])
            self.taken.append((index, self.source.produced - 1))
            self.started.set()
            deadline = time.monotonic() + 10
            while (self.source.produced < min(index + 1 + self.wait_for_frames, self.source.count)
                   and time.monotonic() < deadline):
                time.sleep(0.0005)
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("model exploded")
        if self.hang:
            self.release.wait(60)
        if self.delay:
            time.sleep(self.delay)
        return image[:, :, 0].astype(np.float32) + np.linspace(0, 1, image.shape[1], dtype=np.float32)


class RecordingSink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.closed = False

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


def test_file_mode_keeps_every_frame_in_order() -> None:
    sink = RecordingSink()
    options = PipelineOptions(live=False, queue_size=3, overlay=False)
    stats = Pipeline(ListSource(50), FakeEstimator(), [sink], options).run()
    assert [f.index for f in sink.frames] == list(range(50))
    assert [f.pts for f in sink.frames] == [i * 2 for i in range(50)]
    assert all(f.time_base == Fraction(1, 50) for f in sink.frames)
    assert stats.dropped == 0 and stats.captured == stats.inferred == stats.displayed == 50
    assert stats.max_queue <= 3
    assert sink.closed
    composed = sink.frames[7].image
    assert composed.shape == (48, 128, 3)
    assert (composed[:, :64] == 7).all()  # left half is the input picture, untouched
    depth_half = composed[:, 64:].astype(int)
    assert depth_half[:, -1].sum() > depth_half[:, 0].sum()  # larger inverse depth is brighter


class SlowOnEveryOtherFrame(FakeEstimator):
    """Holds each even frame until a later frame has been predicted: results finish out of order."""

    def __init__(self, later_done: threading.Event) -> None:
        super().__init__()
        self.later_done = later_done
        self.frames_seen: list[int] = []

    def predict(self, image: np.ndarray) -> np.ndarray:
        index = int(image[0, 0, 0])
        self.frames_seen.append(index)
        if index % 2 == 0:
            self.later_done.wait(10)
            self.later_done.clear()
        return super().predict(image)


class SignalsWhenDone(FakeEstimator):
    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self.done = done
        self.frames_seen: list[int] = []

    def predict(self, image: np.ndarray) -> np.ndarray:
        self.frames_seen.append(int(image[0, 0, 0]))
        depth = super().predict(image)
        self.done.set()
        return depth


def test_file_mode_with_several_engines_keeps_every_frame_in_source_order() -> None:
    """Two engines, the first made to finish after the second: frames still leave in order, each once, each its own depth."""
    later_done = threading.Event()
    first, second = SlowOnEveryOtherFrame(later_done), SignalsWhenDone(later_done)
    sink = RecordingSink()
    options = PipelineOptions(live=False, queue_size=3, overlay=False)
    stats = Pipeline(ListSource(40), first, [sink], options, extra_estimators=[second]).run()
    assert [f.index for f in sink.frames] == list(range(40))
    assert stats.dropped == 0 and stats.captured == stats.inferred == stats.displayed == 40
    assert first.frames_seen and second.frames_seen  # both engines took frames
    assert sorted(first.frames_seen + second.frames_seen) == list(range(40))
    for frame in sink.frames:
        assert (frame.image[:, :64] == frame.index).all()


def test_live_mode_uses_one_engine_however_many_are_given() -> None:
    spare = FakeEstimator()
    Pipeline(ListSource(20), FakeEstimator(), [RecordingSink()], PipelineOptions(live=True), extra_estimators=[spare]).run()
    assert spare.calls == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("depth-inference-")]


def test_an_error_in_any_engine_stops_the_run_with_the_stage_named() -> None:
    sink = RecordingSink()
    pipeline = Pipeline(ListSource(100), FakeEstimator(delay=0.001), [sink], PipelineOptions(live=False),
                        extra_estimators=[FakeEstimator(fail_at=3)])
    with pytest.raises(StageError, match="inference stage failed: RuntimeError: model exploded"):
        pipeline.run()
    assert sink.closed and len(sink.frames) < 100
    assert [f.index for f in sink.frames] == list(range(len(sink.frames)))


def test_overlay_writes_status_text() -> None:
    plain, annotated = RecordingSink(), RecordingSink()
    Pipeline(ListSource(3, size=(240, 320)), FakeEstimator(), [plain], PipelineOptions(live=False, overlay=False)).run()
    Pipeline(ListSource(3, size=(240, 320)), FakeEstimator(), [annotated], PipelineOptions(live=False)).run()
    diff = np.abs(plain.frames[2].image.astype(int) - annotated.frames[2].image.astype(int)).sum(axis=2)
    rows = np.nonzero(diff.any(axis=1))[0]
    assert rows.size and rows.max() < 60  # text only in the top-left status block


def test_live_mode_drops_stale_frames_and_takes_the_newest() -> None:
    """Each prediction lasts until the source has read 5 more frames; the next frame taken must be
    one of those newer ones, never the next in line. No timing is assumed, so load cannot break it."""
    started = threading.Event()
    source = ListSource(250, hold_second_frame=started)  # the index is painted into a byte
    estimator = FakeEstimator(source=source, wait_for_frames=5)
    estimator.started = started
    sink = RecordingSink()
    stats = Pipeline(source, estimator, [sink], PipelineOptions(live=True)).run()
    assert stats.captured == 250 and stats.dropped > 0 and stats.max_queue == 1
    taken = [index for index, _ in estimator.taken]
    assert len(taken) >= 2
    for previous, current in zip(taken, taken[1:]):
        assert current > previous + 2, taken  # frames previous+1..previous+3 were put before this take
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices)


def test_slow_consumer_keeps_queue_bounded_in_file_mode() -> None:
    pipeline = Pipeline(ListSource(200), FakeEstimator(delay=0.002), [RecordingSink()], PipelineOptions(live=False, queue_size=2))
    stats = pipeline.run()
    assert stats.max_queue <= 2 and pipeline.frames.max_seen <= 2 and pipeline.depths.max_seen <= 2
    assert stats.displayed == 200


def test_worker_exception_names_the_stage_and_closes_sinks() -> None:
    sink = RecordingSink()
    pipeline = Pipeline(ListSource(100), FakeEstimator(fail_at=5), [sink], PipelineOptions(live=False))
    with pytest.raises(StageError, match="inference stage failed: RuntimeError: model exploded") as err:
        pipeline.run()
    assert err.value.exit_code == 1
    assert sink.closed and 0 < len(sink.frames) <= 5


def test_source_error_keeps_its_exit_code_and_message() -> None:
    sink = RecordingSink()
    with pytest.raises(StageError, match="capture stage: clip.mp4 is truncated at frame 10") as err:
        Pipeline(ListSource(100, fail_at=10), FakeEstimator(), [sink], PipelineOptions(live=False)).run()
    assert err.value.exit_code == 2
    assert sink.closed and len(sink.frames) == 10


def test_sink_error_stops_the_run() -> None:
    class BadSink(RecordingSink):
        def write(self, frame: Frame) -> None:
            raise OSError("disk full")

    sink = BadSink()
    with pytest.raises(StageError, match="display stage failed: OSError: disk full"):
        Pipeline(ListSource(100), FakeEstimator(), [sink], PipelineOptions(live=False)).run()
    assert sink.closed


def test_hung_worker_does_not_hang_shutdown() -> None:
    stop = threading.Event()
    sink = RecordingSink()
    estimator = FakeEstimator(hang=True)
    pipeline = Pipeline(ListSource(10_000, interval=0.001), estimator, [sink], PipelineOptions(live=True), cancel=stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    try:
        pipeline.run()
        assert time.monotonic() - started < 0.3 + 2.0 + 1.0
        assert sink.closed
    finally:
        estimator.release.set()  # let the abandoned worker end: no thread outlives its test


def test_stop_event_ends_file_mode_quickly_with_output_closed() -> None:
    stop = threading.Event()
    sink = RecordingSink()
    pipeline = Pipeline(ListSource(100_000), FakeEstimator(delay=0.001), [sink], PipelineOptions(live=False), cancel=stop)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    stats = pipeline.run()
    assert time.monotonic() - started < 2.5
    assert sink.closed and stats.displayed == len(sink.frames) > 0
    assert [f.index for f in sink.frames] == list(range(len(sink.frames)))


def test_channel_latest_mode_never_exceeds_one_and_counts_drops() -> None:
    channel: FrameChannel[int] = FrameChannel(1, latest=True)
    for i in range(10):
        channel.put(i)
    assert len(channel) == 1 and channel.dropped == 9 and channel.get(0) == 9
    channel.close()
    with pytest.raises(ChannelClosed):
        channel.get(0)


def test_channel_fifo_blocks_until_stopped() -> None:
    channel: FrameChannel[int] = FrameChannel(2, latest=False)
    stop = threading.Event()
    assert channel.put(1, stop) and channel.put(2, stop)
    threading.Timer(0.1, stop.set).start()
    assert channel.put(3, stop) is False
    assert channel.dropped == 0 and [channel.get(0), channel.get(0)] == [1, 2]
