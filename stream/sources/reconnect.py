"""Bringing a dropped live network stream back: reopen with exponential backoff, then give up.

The attempt counter resets only when a frame is delivered (``delivered``), not when a
reopen merely succeeds: a server that accepts connections but never sends a picture must
still run out of attempts and end the run with ``SourceLostError`` instead of looping forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from stream.core.errors import SourceError, SourceLostError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reconnector:
    """Attempt ``k`` (1-based, counted since the last delivered frame) waits ``backoff * 2**(k-1)``."""

    def __init__(self, name: str, attempts: int, backoff: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.attempts = max(0, int(attempts))
        self.backoff = max(0.0, float(backoff))
        self.sleep = sleep
        self.used = 0

    def delivered(self) -> None:
        """A frame arrived: the next drop starts counting attempts from one again."""
        self.used = 0

    def reconnect(self, reason: str, reopen: Callable[[], T]) -> T:
        """Call ``reopen`` until it succeeds (``SourceError`` = failed attempt), or raise ``SourceLostError``."""
        last = reason
        while self.used < self.attempts:
            self.used += 1
            delay = self.backoff * 2 ** (self.used - 1)
            log.warning("%s dropped (%s); reconnecting in %.2fs (attempt %d/%d)", self.name, last, delay, self.used,
                        self.attempts)
            self.sleep(delay)
            try:
                result = reopen()
            except SourceError as exc:
                last = getattr(exc, "reason", None) or str(exc)
                continue
            log.warning("reconnected to %s", self.name)
            return result
        tried = (f"{self.attempts} reconnect attempt(s) failed" if self.attempts
                 else "reconnecting is off (reconnect_attempts=0)")
        raise SourceLostError(f"{self.name} stopped delivering ({last}) and {tried}; check the stream and the network")
