"""The run's counters and options, read by every stage, the overlay, the summary and the benchmark.

Apart from ``stream.pipeline.stages`` so the composer and the inference stage can name them
without importing the module that wires them together.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np


class RateMeter:
    """Events per second over a sliding window of recent event times.

    A rate is only said once it means something: at least ``min_events`` events and
    ``settle`` seconds since the first. The first few frames of a file come in a burst (the
    queue fills at decode speed), which would read "capture 401.0 fps" for a rate the run
    never keeps; a still image has no rate at all.
    """

    def __init__(self, window: int = 30, min_events: int = 3, settle: float = 1.0) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=window)
        self._first: float | None = None
        self._count = 0
        self.min_events = min_events
        self.settle = settle

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = now
        self._count += 1
        self._times.append(now)

    @property
    def rate(self) -> float | None:
        """Events per second over the window, or None while too few events or too short a time have passed."""
        if self._first is None or self._count < self.min_events or self._times[-1] - self._first < self.settle:
            return None
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else None


@dataclass
class PipelineStats:
    """Counters shared by the overlay, the CLI summary, the tests and the benchmark.

    They add up: ``captured = displayed + dropped`` and ``dropped = dropped_before +
    dropped_after``. Before inference: replaced in the frame channel by a newer frame (live),
    or still waiting when the run stopped. After: a depth replaced by a newer one before the
    display took it, or one past ``max_frames``. ``dropped_capture``/``dropped_display`` are
    the channels' own replacement counts (the part of each that "newest frame wins" made).
    """

    captured: int = 0
    inferred: int = 0
    displayed: int = 0
    dropped_capture: int = 0
    dropped_display: int = 0
    max_queue: int = 0
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=10_000))
    stage_ms: dict[str, collections.deque[float]] = field(
        default_factory=lambda: collections.defaultdict(lambda: collections.deque(maxlen=10_000))
    )
    capture_rate: RateMeter = field(default_factory=RateMeter)
    depth_rate: RateMeter = field(default_factory=RateMeter)
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    @property
    def dropped(self) -> int:
        """Frames read but never shown or written."""
        return max(0, self.captured - self.displayed)

    @property
    def dropped_before(self) -> int:
        """Frames read but never inferred."""
        return max(0, self.captured - self.inferred)

    @property
    def dropped_after(self) -> int:
        """Frames inferred but never shown or written."""
        return max(0, self.inferred - self.displayed)

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        return float(np.quantile(np.fromiter(self.latencies, float), quantile) * 1e3)


@dataclass(frozen=True)
class PipelineOptions:
    live: bool
    queue_size: int = 4
    colormap: str = "inferno"
    overlay: bool = True
    max_frames: int | None = None  # stop after this many frames shown/written (live: more are read and dropped)
    max_width: int | None = None  # the composed side-by-side is scaled down to this width
    frame_numbers: bool = True  # file mode's "frame N"; False for a photo, which has one
