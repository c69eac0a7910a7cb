"""A job's outputs are written in a hidden folder beside their final place, and moved out when complete.

The single run writes its video, depth file and probe CSV into ``.NAME.<hex>.batch-partial/``
in the output's own folder (same filesystem, so each move is an atomic rename); only when the
run has ended cleanly are they renamed to their final names. A job abandoned by Ctrl-C has its
folder removed; one abandoned by a hard kill leaves only such a hidden folder, which the next
run removes before it starts. Nothing half-written ever sits under a final name. The hidden
name always fits the file system: a long output name is shortened in it (with a hash).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path

from stream.core.names import name_bytes, name_limit, shortened

SUFFIX = ".batch-partial"
PATTERN = re.compile(r"^\..+\.[0-9a-f]{8}" + re.escape(SUFFIX) + "$")


def workdir_for(output: Path) -> Path:
    """A new, unique name for the hidden folder of ``output``'s job (not created: the worker makes it)."""
    token = secrets.token_hex(4)
    room = name_limit(output.parent) - name_bytes(f"..{token}{SUFFIX}")
    return output.with_name(f".{shortened(output.name, room)}.{token}{SUFFIX}")


def commit(workdir: Path, folder: Path) -> list[Path]:
    """Rename every finished file in ``workdir`` into ``folder`` (replacing older outputs), then remove ``workdir``."""
    moved = []
    for entry in sorted(workdir.iterdir()):
        if entry.name.startswith("."):
            continue  # a writer's own temporary file: not an output
        final = folder / entry.name
        if final.is_dir() and entry.is_dir():
            shutil.rmtree(final)
        os.replace(entry, final)
        moved.append(final)
    discard(workdir)
    return moved


def discard(workdir: Path) -> None:
    """Remove an abandoned job's folder and whatever is in it."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(workdir)


def clean_partials(folder: Path) -> int:
    """Remove the hidden folders jobs of an earlier, killed run left under ``folder``; how many there were."""
    found = 0
    for root, dirs, _files in os.walk(folder):
        for name in list(dirs):
            if PATTERN.match(name):
                discard(Path(root) / name)
                dirs.remove(name)
                found += 1
    return found
