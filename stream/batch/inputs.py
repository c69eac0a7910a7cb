"""What a batch processes: files, folders (recursively) and globs -> video and image files, in order.

Only the inputs are found here; where each one's outputs go is ``jobs``. Folders are walked
recursively and keep only files that are videos (by extension) or pictures (by extension or
first bytes, the single run's own test); a file named on the command line is taken as given,
so a damaged or mislabelled one is reported by name instead of silently left out. An entry
named as a video or picture that is no regular readable file (a named pipe, a device, a
dangling symbolic link) is kept with its problem, to be a failed row in the summary: it is
never opened (a named pipe would block the batch until a writer came) and never stops the rest.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from stream.core.errors import SourceError
from stream.core.filekind import FOLDER, special_kind
from stream.core.media import VIDEO_INPUT_EXTENSIONS, is_image_name, is_video_name
from stream.sources.expand import Found, expand
from stream.sources.still import looks_like_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFile:
    """One file to process: its absolute path, whether it is a photo (one frame) or a video, and
    why it cannot be read (None: a regular readable file)."""

    path: Path
    photo: bool
    problem: str | None = None


def is_input(path: Path) -> bool:
    """A video (by extension) or a picture (by extension or first bytes, the single run's own test; only a
    regular file's bytes are read)."""
    return is_video_name(path) or is_image_name(path) or looks_like_image(path)


def problem_of(path: Path) -> str | None:
    """Why ``path`` is no input file ("a named pipe (FIFO), not a file", "a dangling symbolic link", ...), asked
    without opening it; None for a regular file this process may read."""
    if path.is_symlink() and not path.exists():
        return "a dangling symbolic link (what it points to does not exist)"
    kind = special_kind(path)
    if kind is not None:
        return kind
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


def is_named_entry(spec: str) -> bool:
    """A spec naming an entry that is neither a regular file nor a folder (a pipe, a dangling link): kept, to be reported."""
    path = Path(spec).expanduser()
    return os.path.lexists(path) and not path.is_file() and special_kind(path) != FOLDER


def input_file(path: Path) -> InputFile:
    """``path`` as an input: a readable file by its real path; one with a problem by where it was found (a dangling
    link has no real path), its folder resolved like the others' so the output tree mirrors them all."""
    problem = problem_of(path)
    if problem is not None:
        return InputFile(path.parent.resolve() / path.name, photo=is_image_name(path) and not is_video_name(path), problem=problem)
    real = path.resolve()
    return InputFile(real, photo=not is_video_name(real) and looks_like_image(real))


def find_inputs(specs: list[str]) -> list[InputFile]:
    """Every input file once (by real path), in the order given; none found is a bad argument."""
    seen: dict[Path, InputFile] = {}
    skipped = 0
    for spec in specs:
        found = Found([Path(spec).expanduser()], 0, True) if is_named_entry(spec) else expand(spec, is_input, recursive=True)
        if not found.matched:
            raise SourceError(f"{spec} does not exist and matches nothing; check the INPUTS (files, folders or quoted globs)")
        skipped += found.skipped
        for path in found.files:
            item = input_file(path)
            seen.setdefault(item.path, item)
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
