"""Playing a file, an image sequence or the synthetic scene "live": frames at their own times.

A camera delivers a frame when its time comes, not when the reader asks; ``PacedSource``
gives any source that behaviour so the live pipeline (newest frame wins) can be exercised
with files. One helper, ``Pacer``, holds the schedule; when the reader falls behind, the
schedule re-anchors at the late frame instead of bursting to catch up, as a camera would.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from stream.core.frames import Closing, Frame
from stream.sources.base import Source, SourceInfo

# Later than this, a frame re-anchors the schedule; earlier lateness (scheduler jitter) is
# absorbed without drifting the rate.
LATE_SLACK = 0.05


class Pacer:
    """Waits until media time ``t`` is due on a wall-clock schedule anchored at the first frame.

    ``clock`` and ``sleep`` are injectable so tests need no real time.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self._origin: tuple[float, float] | None = None

    def wait(self, media_seconds: float) -> float:
        """Sleep until ``media_seconds`` is due; returns the delivery time (the clock after waiting)."""
        now = self.clock()
        if self._origin is None:
            self._origin = (media_seconds, now)
        due = self._origin[1] + (media_seconds - self._origin[0])
        if due > now:
            self.sleep(due - now)
            return self.clock()
        if now - due > LATE_SLACK or media_seconds < self._origin[0]:
            self._origin = (media_seconds, now)
        return now


class PacedSource(Closing):
    """Any source, delivered at its frames' own timestamps like a camera.

    Returned frames are new frames whose ``captured_at`` is the delivery time, so latency
    figures start when the frame "happened". Closing closes the wrapped source.
    """

    def __init__(self, source: Source, pacer: Pacer | None = None) -> None:
        self.source = source
        self.pacer = pacer or Pacer()
        self.info: SourceInfo = source.info
        self._count = 0

    def read(self) -> Frame | None:
        frame = self.source.read()
        if frame is None:
            return None
        seconds = frame.seconds if frame.seconds is not None else self._count / self.info.fps
        self._count += 1
        delivered = self.pacer.wait(seconds)
        return dataclasses.replace(frame, captured_at=delivered)

    def close(self) -> None:
        self.source.close()
