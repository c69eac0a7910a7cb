"""One strictly increasing timeline per source, whatever the sender's timestamps do.

A sink muxes frames at their timestamps, so they must only go forward. A file's own pts
are kept (gaps included: they are its timing); a file whose pts step back gets one frame
interval instead. A live stream's timestamps restart from zero when its sender restarts,
and reconnecting starts a new timeline too. After such a discontinuity (pts stepping back,
leaping forward by more than ``JUMP_FRAMES`` intervals, or a reconnect) the timeline goes
on from the wall clock: the frame's time is the previous frame's plus the real time
between their arrivals, and later frames follow their own pts from there.

"The previous frame's arrival" is taken from the stream's usual delay (the smallest
arrival-minus-timeline lag of recent frames), not from the last frame alone: FFmpeg's
parser holds a frame back until the next one starts, so the last frame before a sender
stops arrives only when the restarted sender's first frame does, and would otherwise
hide the whole outage.
"""

from __future__ import annotations

import collections
import logging
from fractions import Fraction

log = logging.getLogger(__name__)

# A live stream's pts leaping forward by more than this many frame intervals is a discontinuity.
JUMP_FRAMES = 10
# Recent frames whose arrival delay gives the stream's usual delay.
LAG_WINDOW = 50


class Timeline:
    """Maps each frame's pts (in its own time base) to an output pts in ``time_base``.

    ``wall_clock`` (live streams) bridges discontinuities with arrival times; without it
    (files) only steps back are repaired. Arrival times are passed in, so tests need no clock.
    """

    def __init__(self, time_base: Fraction, fps: float, name: str, wall_clock: bool) -> None:
        self.time_base = time_base
        self.ticks = max(1, round(1 / (fps * time_base)))
        self.name = name
        self.wall_clock = wall_clock
        self.last: int | None = None
        self._lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self._offset = 0
        self._broken = False
        self._warned = False

    @property
    def shift(self) -> Fraction:
        """Seconds the current sender's pts are moved by on this timeline (its sound moves with them)."""
        return self._offset * self.time_base

    def restart(self) -> None:
        """The next frame begins a new sender timeline (after a reconnect)."""
        self._broken = True

    def stamp(self, pts: int | None, pts_time_base: Fraction | None, arrival: float) -> int:
        """The output pts of a frame that arrived at ``arrival`` (seconds, monotonic)."""
        if pts is not None and pts_time_base is not None and pts_time_base != self.time_base:
            pts = round(pts * pts_time_base / self.time_base)
        if pts is None:
            out = 0 if self.last is None else self.last + self.ticks
        elif self.last is None:
            out = pts + self._offset
        else:
            out = pts + self._offset
            if self._broken or out <= self.last or (self.wall_clock and out - self.last > JUMP_FRAMES * self.ticks):
                out = self._bridge(self.last, arrival)
                self._offset = out - pts
        self._broken = False
        self.last = out
        if self.wall_clock:
            self._lags.append(arrival - float(out * self.time_base))
        return out

    def _bridge(self, last: int, arrival: float) -> int:
        """Where a frame after a discontinuity goes: by the wall clock (live), else one interval on."""
        if not self.wall_clock or not self._lags:
            if not self._warned:
                log.warning("%s: timestamps step back at %.3fs; each such frame follows one interval after the last",
                            self.name, float(last * self.time_base))
                self._warned = True
            return last + self.ticks
        log.warning("%s: timestamps jumped (sender restarted or reconnected); continuing from the arrival time",
                    self.name)
        return max(last + self.ticks, round((arrival - min(self._lags)) / self.time_base))
