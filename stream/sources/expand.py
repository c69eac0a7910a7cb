"""A folder or a glob -> the files it holds, kept by a test the caller gives: the one expansion.

The photo folder of a single run and the inputs of a batch are found by the same rules: a
file named is taken as given (a damaged or mislabelled one is then reported by name, not
silently left out), a folder gives its files in name order with hidden entries skipped
(our own ``.partial`` files among them), and a glob gives its matches in name order. What
differs is said by the caller: which files to keep (photos only, or videos and photos)
and whether subfolders are walked.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stream.core.media import has_glob


@dataclass
class Found:
    """The files kept, how many other files were passed over, and whether the spec named anything at all."""

    files: list[Path] = field(default_factory=list)
    skipped: int = 0
    matched: bool = False

    def add(self, path: Path, keep: Callable[[Path], bool]) -> None:
        if keep(path):
            self.files.append(path)
        elif path.is_file():
            self.skipped += 1


def expand(spec: str, keep: Callable[[Path], bool], recursive: bool = False) -> Found:
    """The files ``spec`` names: a file as given, a folder's files, a glob's matches (folders among them listed too).

    ``recursive`` walks subfolders (and lets ``**`` in a glob span folders); otherwise only
    the folder's own files count.
    """
    path = Path(spec).expanduser()
    found = Found()
    if path.is_file():
        return Found([path], 0, True)
    if path.is_dir():
        list_folder(path, keep, recursive, found)
        found.matched = True
        return found
    matches = sorted(glob.glob(str(path), recursive=recursive)) if has_glob(spec) else []
    for match in map(Path, matches):
        if match.is_dir():
            if recursive:
                list_folder(match, keep, recursive, found)
        else:
            found.add(match, keep)
    found.matched = bool(matches)
    return found


def list_folder(folder: Path, keep: Callable[[Path], bool], recursive: bool, found: Found) -> None:
    """The folder's files (and, if ``recursive``, its subfolders'), in name order, hidden entries skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if not name.startswith("."):
                found.add(Path(root) / name, keep)
