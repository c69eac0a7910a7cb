"""The three threads: capture -> (bounded channel) -> inference -> (channel) -> display.

Live mode (decided once, by ``stream.pipeline.mode``): both channels are one-slot
"latest wins" mailboxes, so inference always takes the newest frame and the display
always shows the newest depth; stale frames are dropped and counted and memory never
grows however slow inference is. File mode: both channels are small bounded FIFOs whose
writers block, so every frame is processed in order and nothing is dropped.

Two signals, never one: ``cancelled`` is the user's (Ctrl-C, ``q``, SIGTERM, an API caller
leaving its loop) and comes from outside; ``finished`` says the source ended and every frame
went through. A frontend that outlives the source (the web page keeps showing the last
frame) waits for ``cancelled`` alone. The workers themselves stop on ``halt``, which
cancelling, finishing or the first error sets. Each worker catches its own exception,
records it as the run's error if it is the first, and sets ``halt``; ``Pipeline.run`` joins
every thread with a timeout and re-raises that first error with its stage named. Sinks are
always closed, so an output video is finalized whatever happened.

The pipeline never touches a GUI: a window is a sink that hands the newest composed frame
to the main thread (``stream.gui.window``), which owns every HighGUI call. ``start`` and
``finish`` let the main thread run that window loop while the workers run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.errors import StageError
from stream.core.frames import DepthFrame, Frame, Normalised
from stream.core.modelinfo import model_info_of
from stream.core.protocols import DepthSink, Estimator, FrameSink, FrameSource
from stream.pipeline.compose import ViewComposer
from stream.pipeline.inference_stage import InferenceStage
from stream.pipeline.stats import PipelineOptions, PipelineStats
from stream.pipeline.workers import Workers
from stream.view.normalize import Normaliser, make_normaliser
from stream.view.probe import Probes
from stream.view.settings import ViewSettings

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
JOIN_TIMEOUT = 2.0
SINK_GRACE = 0.25


class Pipeline:
    """Wires a source, a depth estimator and sinks together with three threads."""

    def __init__(
        self,
        source: FrameSource,
        estimator: Estimator,
        sinks: Sequence[FrameSink],
        options: PipelineOptions,
        cancel: threading.Event | None = None,
        on_display: Callable[[PipelineStats], None] | None = None,
        depth_sinks: Sequence[DepthSink] = (),
        normaliser: Normaliser | None = None,
        probes: Probes | None = None,
        extra_estimators: Sequence[Estimator] = (),
        view: ViewSettings | None = None,
        halt: threading.Event | None = None,
    ) -> None:
        """``cancel``: the caller's "stop now" (set by it, never by the pipeline). ``halt``: the
        event the workers and a blocking source stop on (made here unless the source needed it first)."""
        self.source = source
        self.estimator = estimator
        # file mode only: more engines infer further frames at once (live mode wants the newest frame, not more of them)
        self.estimators = [estimator, *(extra_estimators if not options.live else ())]
        self.sinks = list(sinks)
        self.depth_sinks = list(depth_sinks)
        self.normaliser = normaliser or make_normaliser("frame", model=model_info_of(estimator))

        self.options = options
        self.cancelled = cancel or threading.Event()
        self.halt = halt or threading.Event()
        self.finished = threading.Event()
        self.enough = threading.Event()  # ``max_frames`` have been shown/written
        self.on_display = on_display
        capacity = 1 if options.live else options.queue_size
        self.frames: FrameChannel[Frame] = FrameChannel(capacity, latest=options.live)
        self.depths: FrameChannel[DepthFrame] = FrameChannel(capacity, latest=options.live)
        self.stats = PipelineStats()
        self.composer = ViewComposer(options, self.stats, probes, view)
        self.workers = Workers(self.halt)
        self._sink_lock = threading.Lock()

    # -- stages ----------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            while not self.halt.is_set() and not self.enough.is_set():
                if self.options.max_frames is not None and self.stats.captured >= self.options.max_frames \
                        and not self.options.live:
                    break  # file mode shows every frame read: reading more would be wasted
                t0 = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                self.stats.stage_ms["capture"].append((time.perf_counter() - t0) * 1e3)
                self.stats.captured += 1
                self.stats.capture_rate.tick(frame.captured_at)
                if not self.frames.put(frame, self.halt):
                    break
                self.stats.dropped_capture = self.frames.dropped
                self.stats.max_queue = max(self.stats.max_queue, self.frames.max_seen)
        finally:
            self.frames.close()

    def _display(self) -> None:
        while not self.halt.is_set():
            try:
                item = self.depths.get(timeout=POLL_SECONDS)
            except ChannelClosed:
                break
            if item is None or self.enough.is_set():
                continue  # past max_frames: counted as dropped after inference
            self.show(item)
            if self.options.max_frames is not None and self.stats.displayed >= self.options.max_frames:
                self.enough.set()

    def compose(self, item: DepthFrame, normalised: Normalised) -> np.ndarray:
        """The view sinks get (see ``ViewComposer``)."""
        return self.composer.compose(item, normalised)

    def overlay_lines(self, item: DepthFrame, normalised: Normalised | None = None) -> list[str]:
        return self.composer.overlay_lines(item, normalised)

    def show(self, item: DepthFrame) -> None:
        t0 = time.perf_counter()
        normalised = self.normaliser(item.depth)
        self.stats.stage_ms["normalise"].append((time.perf_counter() - t0) * 1e3)
        view = self.compose(item, normalised)
        out = Frame(view, item.frame.index, item.frame.pts, item.frame.time_base, item.frame.captured_at)
        t0 = time.perf_counter()
        with self._sink_lock:
            for depth_sink in self.depth_sinks:
                depth_sink.write_depth(item, normalised)
            for sink in self.sinks:
                sink.write(out)
        self.stats.stage_ms["write"].append((time.perf_counter() - t0) * 1e3)
        self.stats.latencies.append(time.monotonic() - item.frame.captured_at)
        self.stats.displayed += 1
        if self.on_display is not None:
            self.on_display(self.stats)

    # -- orchestration ---------------------------------------------------------------
    def run(self, foreground: Callable[[], None] | None = None) -> PipelineStats:
        """Run to the end of the source, ``cancel`` or the first error.

        ``foreground`` is what the calling (main) thread does meanwhile, such as the window
        loop; it should return once ``running`` is false. Without it the thread just waits.
        """
        self.start()
        try:
            if foreground is not None:
                foreground()
            while self.running:
                self.halt.wait(POLL_SECONDS)
        finally:
            stats = self.finish()
        return stats

    def start(self) -> None:
        """Start the three workers; the caller must call ``finish`` (in a ``finally``)."""
        # a source failing mid-stream still lets the frames already read reach the output
        self.workers.add("capture", self._capture, drain=True)
        InferenceStage(self.estimators, self.frames, self.depths, self.stats, self.halt).add_to(self.workers)
        self.workers.add("display", self._display)
        self.workers.start()

    @property
    def running(self) -> bool:
        """Workers are still going, nothing failed and nobody cancelled."""
        return self.workers.alive and not self.halt.is_set() and not self.cancelled.is_set()

    @property
    def error(self) -> StageError | None:
        return self.workers.error

    def finish(self) -> PipelineStats:
        """Stop and join the workers, close the sinks, then raise the run's first error if any.

        ``finished`` is set only when the source really ended: not on a cancel, not on an error.
        """
        ended = not self.cancelled.is_set() and self.error is None and not self.workers.alive
        self.halt.set()
        self.frames.close()
        self.depths.close()
        self.shutdown()
        if self.error is not None:
            raise self.error
        if ended:
            self.finished.set()
        return self.stats

    def shutdown(self) -> None:
        """Join every worker within a bounded time, then always close the sinks."""
        deadline = self.workers.join(JOIN_TIMEOUT)
        # a display thread hung inside a sink holds this lock: wait out the same deadline (plus a
        # moment), not a second full timeout, then finalize the outputs regardless
        locked = self._sink_lock.acquire(timeout=max(SINK_GRACE, deadline - time.monotonic()))
        try:
            closers: list[DepthSink | FrameSink] = [*self.depth_sinks, *self.sinks]
            for sink in closers:
                try:
                    sink.close()
                except Exception as exc:  # noqa: BLE001 - report, but close the others too
                    self.workers.fail("output", exc)
        finally:
            if locked:
                self._sink_lock.release()
        self.stats.finished_at = time.monotonic()
