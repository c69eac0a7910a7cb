"""Where a stream's bytes go: the name FFmpeg opens for a ``StreamTarget``, and what to give back after.

- standard output (``-``): taken when the sink is made (before the model loads), as a private
  copy of file descriptor 1; descriptor 1 then points at stderr, so nothing else a library
  prints can land in the video (``depth-stream --output - | ffplay -`` plays). Given back on close.
- a named pipe: opened once, for writing, when the first frame is ready; opening a pipe blocks
  until a reader comes, so it is polled (non-blocking) and given up when the sink closes. No
  check ever opens it before, which would hand its reader an end of file.
- a URL: as given; for UDP, packets of 1316 bytes (7 MPEG-TS packets) unless the URL says otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading

from stream.sinks.targets import FIFO, STDOUT, StreamTarget

log = logging.getLogger(__name__)

READER_POLL_SECONDS = 0.05


class Endpoint:
    """One ``StreamTarget``, opened at most once.

    ``restore`` gives standard output back (the main thread, on close); ``close_fd`` closes the
    descriptor FFmpeg wrote to (whoever wrote last: a sender still blocked in a write keeps it).
    """

    def __init__(self, target: StreamTarget) -> None:
        self.target = target
        self.fd: int | None = None
        self._stdout: int | None = None
        if target.scheme == STDOUT:
            sys.stdout.flush()
            self.fd = os.dup(1)
            self._stdout = os.dup(1)
            os.dup2(2, 1)

    def open(self, stop: threading.Event) -> str | None:
        """The name FFmpeg writes to; None if ``stop`` came first (a named pipe nobody opened)."""
        scheme, text = self.target.scheme, self.target.text
        if scheme == STDOUT:
            return f"pipe:{self.fd}"
        if scheme == FIFO:
            fd = wait_for_reader(text.removeprefix("file://"), stop)
            if fd is None:
                return None
            self.fd = fd
            return f"pipe:{fd}"
        if scheme == "udp" and "pkt_size=" not in text:
            return text + ("&" if "?" in text else "?") + "pkt_size=1316"
        return text

    def restore(self) -> None:
        """Descriptor 1 is standard output again."""
        if self._stdout is not None:
            os.dup2(self._stdout, 1)
            os.close(self._stdout)
            self._stdout = None

    def close_fd(self) -> None:
        """Close the descriptor written to (a reader then sees the end of the stream)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def wait_for_reader(path: str, stop: threading.Event) -> int | None:
    """Open the named pipe ``path`` for writing once a reader has it open; None if ``stop`` is set first."""
    said = False
    while not stop.is_set():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if not said:
                log.info("waiting for a reader on the named pipe %s", path)
                said = True
            stop.wait(READER_POLL_SECONDS)
            continue
        os.set_blocking(fd, True)
        return fd
    return None
