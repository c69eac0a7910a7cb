"""Bursty live input played out evenly by its timestamps: a small bounded de-jitter buffer.

Live HLS hands over a whole segment (1-6 s of frames) at once; "newest frame wins" then
keeps only the last frame or two of each segment and inference idles until the next.
``DejitteredSource`` reads the stream ahead on its own thread and hands each frame on at
its playout time, ``Playout.due``: its timestamp plus the stream's playout lag, the latest
any recent frame arrived relative to its timestamp (an RTP jitter buffer's rule). Every
frame has arrived by then, so frames leave as evenly spaced as their timestamps.

It adds latency only to a stream that is bursty: the lag added is the spread of recent
arrival delays (largest minus smallest over ``WINDOW_SECONDS``), which for a steady camera
over RTSP or UDP is a few milliseconds and is then not added at all (under ``BURST_SECONDS``);
for live HLS it is about one segment. Bounded both ways: at most ``MAX_DELAY`` seconds are
added (a frame later than that goes on at once, and newest-wins copes), and at most
``buffer_frames`` decoded frames are held (150, fewer for large pictures: ``MAX_BYTES``);
when the buffer is full the reader waits, and the rest of the burst stays in the stream's
own, compressed, buffer.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from stream.core.frames import Closing, Frame
from stream.sources.base import Source, SourceInfo

log = logging.getLogger(__name__)

# At most this much latency is added to play a burst out evenly (HLS segments are 1-6 s).
MAX_DELAY = 6.0
# A spread of arrival delays under this is network jitter, not bursts: nothing is added.
BURST_SECONDS = 0.2
# Arrival delays are remembered this long (several segments: a segment's first frame sets the lag).
WINDOW_SECONDS = 20.0
# Decoded frames held at most: 150, and no more than MAX_BYTES of pictures (at least 8).
MAX_FRAMES = 150
MIN_FRAMES = 8
MAX_BYTES = 256 * 1024 * 1024
# How often a waiting reader or consumer looks at the stop event.
POLL_SECONDS = 0.05
# How long closing waits for the reader thread (blocked in a network read, it closes the source itself).
JOIN_SECONDS = 1.0


def buffer_frames(width: int, height: int) -> int:
    """Frames of ``width`` x ``height`` BGR the buffer may hold."""
    return max(MIN_FRAMES, min(MAX_FRAMES, MAX_BYTES // max(1, width * height * 3)))


class Playout:
    """When each frame is due: its media time plus the stream's usual arrival lag plus the burst spread.

    Pure arithmetic over the arrival times it is told of, so tests need no clock.
    """

    def __init__(self, max_delay: float = MAX_DELAY, window: float = WINDOW_SECONDS) -> None:
        self.max_delay, self.window = max_delay, window
        self._lags: collections.deque[tuple[float, float]] = collections.deque()

    def arrived(self, seconds: float, arrival: float) -> None:
        """A frame with media time ``seconds`` arrived at ``arrival`` (monotonic seconds)."""
        self._lags.append((arrival, arrival - seconds))
        while self._lags and self._lags[0][0] < arrival - self.window:
            self._lags.popleft()

    @property
    def delay(self) -> float:
        """The latency added to play bursts out evenly (0 for a steady stream)."""
        if not self._lags:
            return 0.0
        lags = [lag for _, lag in self._lags]
        spread = max(lags) - min(lags)
        return 0.0 if spread < BURST_SECONDS else min(spread, self.max_delay)

    def due(self, seconds: float) -> float:
        """The monotonic time a frame with media time ``seconds`` should be handed on."""
        if not self._lags:
            return float("-inf")
        return seconds + min(lag for _, lag in self._lags) + self.delay


class DejitteredSource(Closing):
    """A live source read ahead on a ``depth-dejitter`` thread and handed on at each frame's playout time.

    ``read`` returns None at the end of the stream (after the buffered frames), or once
    ``stop`` is set; a source error reaches ``read`` after the frames read before it.
    Frames go on with ``captured_at`` = when they were handed on (as ``PacedSource`` does),
    so latency figures start when the frame is played. Closing closes the wrapped source.
    """

    def __init__(self, source: Source, stop: threading.Event | None = None, playout: Playout | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.info: SourceInfo = source.info
        self.stop = stop or threading.Event()
        self.playout = playout or Playout()
        self.clock = clock
        self.capacity = buffer_frames(self.info.width, self.info.height)
        self._items: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._source_closed = False
        self._told = 0.0
        self._thread = threading.Thread(target=self._read_ahead, name="depth-dejitter", daemon=True)
        self._thread.start()

    def _halted(self) -> bool:
        return self._closing.is_set() or self.stop.is_set()

    def _read_ahead(self) -> None:
        try:
            while not self._halted():
                frame = self.source.read()
                arrival = self.clock()
                with self._cond:
                    if frame is None:
                        break
                    if frame.seconds is not None:
                        self.playout.arrived(frame.seconds, arrival)
                    while len(self._items) >= self.capacity and not self._halted():
                        self._cond.wait(POLL_SECONDS)
                    self._items.append(frame)
                    self._cond.notify_all()
                self._tell()
        except BaseException as exc:  # noqa: BLE001 - handed to the reader of this source
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            if self._closing.is_set():
                self._close_source()

    def _tell(self) -> None:
        """Say once (and again if it grows by half) how far behind bursty input is played."""
        delay = self.playout.delay
        if delay > max(BURST_SECONDS, self._told * 1.5):
            self._told = delay
            log.info("%s arrives in bursts; playing it out evenly, %.1f s behind (at most %.0f s)",
                     self.info.description, delay, MAX_DELAY)

    def read(self) -> Frame | None:
        with self._cond:
            while not self._halted():
                if self._items:
                    head = self._items[0]
                    now = self.clock()
                    wait = 0.0 if head.seconds is None else self.playout.due(head.seconds) - now
                    if wait <= 0:
                        self._items.popleft()
                        self._cond.notify_all()
                        return dataclasses.replace(head, captured_at=now)
                    self._cond.wait(min(wait, POLL_SECONDS))
                    continue
                if self._ended:
                    if self._error is not None:
                        error, self._error = self._error, None
                        raise error
                    return None
                self._cond.wait(POLL_SECONDS)
        return None

    def _close_source(self) -> None:
        with self._cond:
            if self._source_closed:
                return
            self._source_closed = True
        self.source.close()

    def close(self) -> None:
        """Stop the reader; close the source now, or (reader blocked in a network read) as soon as that read returns."""
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(JOIN_SECONDS)
        if not self._thread.is_alive():
            self._close_source()
