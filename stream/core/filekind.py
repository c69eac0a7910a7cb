"""What a path that is not a regular file is: a folder, a named pipe, a device, a socket.

Asked with ``os.stat`` alone, which never opens the path: opening a named pipe (FIFO) for
reading blocks until a writer comes, and a device such as ``/dev/zero`` reads forever, so
every check that a path is a usable input file asks here first. Messages then name what
the thing really is ("a named pipe (FIFO), not a file") instead of calling it empty or
missing. The source, the model, the weights and the web's uploads share it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER = "a folder"


def special_kind(path: Path | str) -> str | None:
    """``"a folder"``, ``"a named pipe (FIFO), not a file"``, ``"a device, not a file"``, ...; None for a regular
    file, a missing path or one that cannot be asked about (symlinks are followed)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"
