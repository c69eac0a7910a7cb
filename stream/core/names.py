"""File names that fit: the file system's limit per name, and names we derive shortened to fit it.

Most Linux and macOS file systems take at most 255 bytes per name (not per path). A user's
name that fits may stop fitting once we derive from it (``.NAME.<hex>.partial.mp4``,
``NAME.probe.csv``, ``NAME.json``): the temporary and hidden names we make are shortened
here, keeping a readable start and a hash of the whole name so two long names stay
distinct; a final name the user will see is checked before any work instead.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

NAME_MAX = 255  # bytes per name on ext4, xfs, btrfs, APFS; used when the file system does not say
HASH_CHARS = 8


def name_limit(folder: Path | str) -> int:
    """Bytes a name may have in ``folder`` (its nearest existing ancestor is asked; 255 if none says)."""
    folder = Path(folder).absolute()
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                limit = os.pathconf(candidate, "PC_NAME_MAX")
                return limit if limit > 0 else NAME_MAX
        except (OSError, ValueError):
            continue
    return NAME_MAX


def name_bytes(name: str) -> int:
    """A name's length as the file system counts it: bytes, not characters."""
    return len(os.fsencode(name))


def shortened(name: str, room: int) -> str:
    """``name`` if it takes at most ``room`` bytes, else its start and ``~`` and a hash of all of it, in ``room`` bytes."""
    if name_bytes(name) <= room:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:HASH_CHARS]
    keep = max(room - HASH_CHARS - 1, 0)
    start = os.fsencode(name)[:keep].decode("utf-8", errors="ignore")  # never half a character
    return f"{start}~{digest}"


def overlong(path: Path | str) -> int | None:
    """The bytes of ``path``'s name when over its folder's limit, else None."""
    path = Path(path)
    size = name_bytes(path.name)
    return size if size > name_limit(path.parent) else None


def abbreviated(name: str, width: int = 60) -> str:
    """A long name cut in the middle for a one-line message (its start and its ending stay)."""
    return name if len(name) <= width else f"{name[:width - 20]}...{name[-17:]}"
