"""What a batch processes: files, folders (recursively) and globs -> video and image files, in order.

Only the inputs are found here; where each one's outputs go is ``jobs``. Folders are walked
recursively and keep only files that are videos (by extension) or pictures (by extension or
first bytes, the single run's own test); a file named on the command line is taken as given,
so a damaged or mislabelled one is reported by name instead of silently left out.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from stream.core.errors import SourceError
from stream.runtime.photos import GLOB_CHARACTERS
from stream.sinks.paths import VIDEO_EXTENSIONS
from stream.sources.still import looks_like_image

log = logging.getLogger(__name__)

# what FFmpeg reads as video beyond the containers the app writes
VIDEO_INPUT_EXTENSIONS = VIDEO_EXTENSIONS + (".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv")


@dataclass(frozen=True)
class InputFile:
    """One file to process: its absolute path and whether it is a photo (one frame) or a video."""

    path: Path
    photo: bool


def is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_INPUT_EXTENSIONS


def walk(folder: Path) -> tuple[list[Path], int]:
    """Videos and pictures under ``folder`` (any depth, hidden entries skipped), and how many other files were passed over."""
    found, skipped = [], 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if is_video_name(path) or looks_like_image(path):
                found.append(path)
            else:
                skipped += 1
    return found, skipped


def expand(spec: str) -> tuple[list[Path], int]:
    """One INPUTS argument: a file as given, a folder walked, a glob's matches (folders among them walked)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path], 0
    if path.is_dir():
        return walk(path)
    matches = sorted(glob.glob(str(path), recursive=True)) if any(char in spec for char in GLOB_CHARACTERS) else []
    found: list[Path] = []
    skipped = 0
    for match in map(Path, matches):
        if match.is_dir():
            more, passed = walk(match)
            found, skipped = found + more, skipped + passed
        elif is_video_name(match) or looks_like_image(match):
            found.append(match)
        else:
            skipped += 1
    if matches:
        return found, skipped
    raise SourceError(f"{spec} does not exist and matches nothing; check the INPUTS (files, folders or quoted globs)")


def find_inputs(specs: list[str]) -> list[InputFile]:
    """Every input file once (by real path), in the order given; none found is a bad argument."""
    seen: dict[Path, InputFile] = {}
    skipped = 0
    for spec in specs:
        paths, passed = expand(spec)
        skipped += passed
        for path in paths:
            real = path.resolve()
            if real not in seen:
                seen[real] = InputFile(real, photo=not is_video_name(real) and looks_like_image(real))
    if skipped:
        log.info("note: %d file(s) that are neither video nor image were skipped", skipped)
    if not seen:
        raise SourceError(f"no video or image files in {' '.join(specs)} (looked for {' '.join(VIDEO_INPUT_EXTENSIONS)} "
                          "and pictures); check the INPUTS")
    return list(seen.values())


def common_root(inputs: list[InputFile]) -> Path:
    """The folder the output tree mirrors: the deepest one holding every input."""
    if len(inputs) == 1:
        return inputs[0].path.parent
    return Path(os.path.commonpath([str(item.path.parent) for item in inputs]))
