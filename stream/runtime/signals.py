"""Ctrl-C and SIGTERM become "cancelled", never an exception in the middle of writing a file."""

from __future__ import annotations

import signal
import threading

SIGNAL_EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopOnSignal:
    """SIGINT/SIGTERM set ``cancel`` (and remember which signal came first).

    Only on the main thread: Python allows signal handlers nowhere else, and an API user's
    worker thread or a notebook keeps its own handling.
    """

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNAL_EXIT_CODES:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
        self.cancel.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES[self.received] if self.received is not None else 0
