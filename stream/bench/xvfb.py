"""A private Xvfb server for the benchmark's window figure and the window tests.

Not a user path (users run on their own screen), so it lives beside the benchmark, not in
the window frontend; the tests import it from here.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def virtual_display(width: int = 640, height: int = 480) -> Iterator[str | None]:
    """A private Xvfb server for tests and the benchmark: yields ``:N``, or None without Xvfb.

    Xvfb picks a free display number itself and reports it on ``-displayfd``, so nothing
    guesses a number or sleeps while the server starts.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        yield None
        return
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 10)
        number = os.read(read_fd, 64).decode().strip() if ready else ""
        yield f":{number}" if number else None
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
