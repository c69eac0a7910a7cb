"""Threads that stop together: one halt event, the first error kept, joins with a deadline.

The pipeline's three stages run as ``Workers``: a worker that raises records the run's
first error (named by its stage) and sets the run's halt event, unless it is allowed to
``drain`` (a source failing mid-stream still lets the frames already read reach the
output). ``join`` waits for all of them within one deadline and names any that hung, so a
stuck thread is abandoned (daemon) rather than waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from stream.core.errors import StageError

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.error: StageError | None = None
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def fail(self, stage: str, exc: BaseException, drain: bool = False) -> None:
        """Record the run's first error; stop at once, or (``drain``) let queued frames finish."""
        with self._lock:
            if self.error is None:
                self.error = StageError(stage, exc)
                log.debug("%s stage failed", stage, exc_info=exc)
        if not drain:
            self.stop.set()

    def add(self, stage: str, body: Callable[[], None], drain: bool = False, thread: str | None = None) -> None:
        """A daemon thread ``depth-<thread or stage>`` running ``body``; started by ``start``."""
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # noqa: BLE001 - every failure must reach the user
                self.fail(stage, exc, drain)

        self.threads.append(threading.Thread(target=run, name=f"depth-{thread or stage}", daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout: float) -> float:
        """Join every thread within ``timeout`` seconds in all; warn about any still running. Returns the deadline."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        hung = [t.name for t in self.threads if t.is_alive()]
        if hung:
            log.warning("threads still running after %.1fs: %s (abandoned)", timeout, ", ".join(hung))
        return deadline
