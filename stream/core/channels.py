"""The hand-off between threads: a bounded channel with a named policy.

In *live* mode a channel is a one-slot "latest wins" mailbox (the reader always gets the
newest item, older ones are dropped and counted); in *file* mode it is a small bounded FIFO
whose writer blocks, so nothing is dropped and memory is bounded.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Generic, TypeVar


class ChannelClosed(Exception):
    """Raised by ``FrameChannel.get`` once the channel is closed and drained."""


T = TypeVar("T")


class FrameChannel(Generic[T]):
    """Bounded hand-off between two threads, either "latest wins" or "keep all, in order".

    One lock and one condition guard a deque of at most ``capacity`` items. ``put`` in
    latest mode never blocks: the oldest item is evicted and counted in ``dropped``. In
    FIFO mode ``put`` waits for room (or for ``stop`` to be set) so the producer is paced
    by the consumer. ``max_seen`` records the highest length ever reached, so tests and
    the benchmark can prove the bound holds.
    """

    def __init__(self, capacity: int, latest: bool) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.latest = latest
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0
        self.max_seen = 0

    def put(self, item: T, stop: threading.Event | None = None, poll: float = 0.05) -> bool:
        """Hand an item over; returns False if the channel closed or ``stop`` was set first."""
        with self._cond:
            if not self.latest:
                while len(self._items) >= self.capacity and not self._closed:
                    if stop is not None and stop.is_set():
                        return False
                    self._cond.wait(poll)
            if self._closed:
                return False
            while len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self.max_seen = max(self.max_seen, len(self._items))
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the oldest waiting item (in latest mode: the newest, the only one kept).

        Returns None on timeout; raises ``ChannelClosed`` once closed and empty.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise ChannelClosed()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more puts; readers drain what is left and then see ``ChannelClosed``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
