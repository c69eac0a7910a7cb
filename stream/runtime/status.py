"""A live run's status line on stderr: elapsed, frames written, depth fps, the output's size.

A live recording runs until Ctrl-C; without it nothing would show between the ``source:``
line and the summary. On a terminal the line is rewritten in place (a carriage return, as
FFmpeg does) twice a second; log lines clear it first so they never glue onto it. Into a
file or pipe (a service's journal, ``2> log``) it is a plain line every ``PLAIN_EVERY``
seconds. ``-q`` shows none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from stream.pipeline.stats import PipelineStats

#: seconds between updates: in place on a terminal, a new line otherwise
TTY_EVERY = 0.5
PLAIN_EVERY = 10.0


def status_text(stats: PipelineStats, written: str, size: int | None) -> str:
    """``00:01:23  1234 frames written  depth 14.9 fps  12.3 MB`` (``depth -- fps`` until a rate is known, kB below 1 MB)."""
    seconds = int(stats.elapsed)
    depth = stats.depth_rate.rate
    parts = [f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
             f"{stats.displayed} frames {written}",
             f"depth {depth:.1f} fps" if depth is not None else "depth -- fps"]
    if size is not None:
        parts.append(f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB")
    return "  ".join(parts)


def file_size(path: Path | None) -> Callable[[], int | None]:
    """The size of ``path`` as it grows (0 before it exists); None without a file to measure."""
    def size() -> int | None:
        if path is None:
            return None
        try:
            return path.stat().st_size
        except OSError:
            return 0
    return size


class LiveStatus(logging.Filter):
    """Call ``step(stats)`` per frame written; ``close()`` ends the line. Also a filter on the log
    handlers writing to the same stream: a log record clears the line before it is printed."""

    def __init__(self, stream: TextIO, written: str, size: Callable[[], int | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.stream = stream
        self.written = written
        self.size = size
        self.clock = clock
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = TTY_EVERY if self.tty else PLAIN_EVERY
        self._next = clock() + self.every
        self._shown = 0  # characters of the status now on the terminal's line
        self._lock = threading.Lock()
        self._handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream]

    def __enter__(self) -> LiveStatus:
        if self.tty:
            for handler in self._handlers:
                handler.addFilter(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def step(self, stats: PipelineStats) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every
        text = status_text(stats, self.written, self.size())
        with self._lock:
            if self.tty:
                self.stream.write("\r" + text.ljust(self._shown))
                self._shown = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def filter(self, record: logging.LogRecord) -> bool:
        self._clear()
        return True

    def _clear(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0

    def close(self) -> None:
        """The last status stays on the terminal (as FFmpeg leaves it); what follows starts a new line."""
        for handler in self._handlers:
            handler.removeFilter(self)
        with self._lock:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
                self._shown = 0
