"""One batch at a time per output folder.

A second batch into the same folder would clear the first one's unfinished outputs as
leftovers of a stopped run, and the two would overwrite each other's manifest. The lock is
an ``flock`` on a hidden file in the folder: the kernel drops it when the process ends,
however it ends, so a killed batch never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stream.core.errors import OutputError

LOCK_NAME = ".depth-stream-batch.lock"


@contextmanager
def only_batch_in(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for the block; another batch holding it is refused in one line."""
    with open(folder / LOCK_NAME, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(f"another batch ({holder}) is writing to {folder}; wait for it to finish, "
                              "or choose another --output-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
