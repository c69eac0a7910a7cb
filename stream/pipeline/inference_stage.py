"""The inference stage: one or more engines between the frame and depth channels.

Live mode runs one engine (the newest frame, soonest). File mode runs one per core: each
worker takes the next frame together with its turn number, and ``InOrder`` lets it hand
its depth on only when every earlier frame has been handed on, so the display thread sees
source order whichever engine finished first. Kept apart from ``stream.pipeline.stages`` so the
ordering can be read (and tested) on its own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.frames import DepthFrame, Frame
from stream.core.modelinfo import model_info_of

if TYPE_CHECKING:
    from stream.core.protocols import Estimator
    from stream.pipeline.stats import PipelineStats
    from stream.pipeline.workers import Workers

POLL_SECONDS = 0.05


class InOrder:
    """Turns numbered 0, 1, 2, ... are taken in that order, whichever thread finishes its work first."""

    def __init__(self) -> None:
        self._next = 0
        self._changed = threading.Condition()

    def wait_for(self, turn: int, stop: threading.Event) -> bool:
        """Block until ``turn`` is next; False if ``stop`` is set first."""
        with self._changed:
            while self._next != turn:
                if stop.is_set():
                    return False
                self._changed.wait(POLL_SECONDS)
        return True

    def done(self, turn: int) -> None:
        with self._changed:
            self._next = turn + 1
            self._changed.notify_all()


class InferenceStage:
    """A ``depth-inference`` worker per engine; the last one out closes the depth channel."""

    def __init__(self, estimators: Sequence[Estimator], frames: FrameChannel[Frame], depths: FrameChannel[DepthFrame],
                 stats: PipelineStats, stop: threading.Event) -> None:
        self.estimators = list(estimators)
        self.frames, self.depths, self.stats, self.stop = frames, depths, stats, stop
        self._take_lock = threading.Lock()
        self._taken = 0
        self._running = len(self.estimators)
        self._order = InOrder()

    def add_to(self, workers: Workers) -> None:
        for number, estimator in enumerate(self.estimators):
            thread = "inference" if number == 0 else f"inference-{number + 1}"
            workers.add("inference", functools.partial(self.run, estimator), thread=thread)

    def take(self) -> tuple[int, Frame] | None:
        """The next frame and its turn; None when the frame channel is closed and empty."""
        while not self.stop.is_set():
            with self._take_lock:
                try:
                    frame = self.frames.get(timeout=POLL_SECONDS)
                except ChannelClosed:
                    return None
                if frame is not None:
                    turn = self._taken
                    self._taken += 1
                    return turn, frame
        return None

    def run(self, estimator: Estimator) -> None:
        model = model_info_of(estimator)  # what the depth means travels with it (a unit, like a timestamp)
        try:
            while (taken := self.take()) is not None:
                turn, frame = taken
                result = estimator.estimate(frame.image)
                if not self._order.wait_for(turn, self.stop):
                    break
                try:
                    if not self.hand_on(DepthFrame(frame, result.depth, result.times, model=model)):
                        break
                finally:
                    self._order.done(turn)
        finally:
            with self._take_lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.depths.close()

    def hand_on(self, item: DepthFrame) -> bool:
        """Count the frame and pass it to the display thread (in turn: no two threads here at once)."""
        times = item.times
        self.stats.stage_ms["preprocess"].append(times.preprocess)
        self.stats.stage_ms["inference"].append(times.inference)
        self.stats.stage_ms["upsample"].append(times.upsample)
        self.stats.inferred += 1
        self.stats.depth_rate.tick()
        if not self.depths.put(item, self.stop):
            return False
        self.stats.dropped_display = self.depths.dropped
        return True
