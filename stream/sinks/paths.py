"""Checks that the output video can be created where asked, made before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePath
from typing import Any

from stream.errors import OutputError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")


def check_output_path(path: Path) -> None:
    """Fail before any work if the output video cannot be created where asked."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'out.mp4'}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise OutputError(f"output {path} has no video extension FFmpeg writes here; use one of {' '.join(VIDEO_EXTENSIONS)}")
    folder = path.parent
    if not folder.exists():
        raise OutputError(f"output folder {folder} does not exist; create it or choose another --output")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} is not a folder; choose another --output")
    # a real write, not os.access: permission bits lie to root, and ACLs, read-only mounts
    # and pseudo filesystems refuse what the bits allow
    try:
        if path.exists():
            with open(path, "r+b"):
                pass
        else:
            fd, probe = tempfile.mkstemp(prefix=".depth-stream-", suffix=".probe", dir=folder)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        what = f"output file {path}" if path.exists() else f"output folder {folder}"
        raise OutputError(f"{what} is not writable ({exc.strerror}); choose another --output") from None


def suffix_of(container: Any) -> str:
    """The extension of an output container's file (``.webm``), for messages."""
    return PurePath(str(container.name)).suffix or container.format.name
