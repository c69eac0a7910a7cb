"""Telling a reconnect's replay from new frames, so frames already delivered are never delivered twice.

Reopening a live HLS playlist starts a few segments back from its live end, and a server
that restarts may resend what it sent before: the frames come back with the same source
timestamps and the same pictures. Such a reconnect brings nothing new; delivering it again
would replay seconds of video into a recording (a 14 s stream became 423 s), and counting it
as "reconnected" would reset the attempts forever.

So the source remembers its recent frames (source pts and a small picture fingerprint). The
first frame after a reconnect decides: one seen before (same pts, same picture) means the
stream is being replayed on its old clock, and every frame up to the newest one delivered is
skipped; the first frame beyond it continues that clock. Any other first frame is a sender
that started again (a camera rebooted, its timestamps from zero), whose frames are all new,
even when their timestamps happen to equal old ones. A live playlist that reopens finished
is known to be the same stream: everything up to the newest frame delivered is skipped.
"""

from __future__ import annotations

import collections
import enum
import zlib
from fractions import Fraction

import numpy as np

# Frames remembered: a reopened HLS playlist goes back three segments (30 s of 10 s segments at 60 fps fit).
RECENT_FRAMES = 4096
# Every 8th pixel in each direction is plenty to tell a replayed picture from a new one.
STRIDE = 8


class Seen(enum.Enum):
    """What a frame read after a reconnect is."""

    REPLAYED = "replayed"  # delivered before: skip it
    CONTINUES = "continues"  # new, on the clock of the frames before the reconnect
    RESTARTED = "restarted"  # new, from a sender that started again: a new timeline


def fingerprint(image: np.ndarray) -> int:
    """A cheap checksum of a decoded picture (the same bytes decode to the same pixels)."""
    return zlib.crc32(np.ascontiguousarray(image[::STRIDE, ::STRIDE]).tobytes())


class SeenFrames:
    """The recent frames of one live source, and the verdict on frames read after a reconnect."""

    def __init__(self, recent: int = RECENT_FRAMES) -> None:
        self._recent: collections.deque[tuple[int, Fraction, int]] = collections.deque(maxlen=recent)
        self._newest: tuple[int, Fraction] | None = None
        self._checking = False
        self._replaying = False

    @property
    def newest(self) -> tuple[int, Fraction] | None:
        """The newest frame delivered: (source pts, its time base)."""
        return self._newest

    def reconnected(self, same_clock: bool = False) -> None:
        """The next frame is the first of a new connection: it says whether the stream is replayed.

        ``same_clock``: the connection is known to carry the stream from before (a live playlist
        reopened as a finished one), so every frame up to the newest delivered is skipped, even
        one too old to be remembered.
        """
        self._checking, self._replaying = not same_clock, same_clock

    def check(self, pts: int | None, time_base: Fraction | None, image: np.ndarray) -> Seen:
        """The verdict on the next frame; frames that are not ``REPLAYED`` are remembered as delivered."""
        key = None if pts is None or time_base is None else (pts, Fraction(time_base), fingerprint(image))
        first, self._checking = self._checking, False
        if first:
            self._replaying = key is not None and key in self._recent
            if not self._replaying:
                self._remember(key)
                return Seen.RESTARTED
        if self._replaying:
            newest = self._newest
            if key is not None and newest is not None and key[1] == newest[1] and key[0] <= newest[0]:
                return Seen.REPLAYED
            self._replaying = False
        self._remember(key)
        return Seen.CONTINUES

    def _remember(self, key: tuple[int, Fraction, int] | None) -> None:
        if key is not None:
            self._recent.append(key)
            self._newest = key[:2]
