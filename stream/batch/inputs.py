"""What a batch processes: files, folders (recursively) and globs -> video and image files, in order.

Only the inputs are found here; where each one's outputs go is ``jobs``. Folders are walked
recursively and keep only files that are videos (by extension) or pictures (by extension or
first bytes, the single run's own test); a file named on the command line is taken as given,
so a damaged or mislabelled one is reported by name instead of silently left out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from stream.core.errors import SourceError
from stream.core.media import VIDEO_INPUT_EXTENSIONS, is_video_name
from stream.sources.expand import expand
from stream.sources.still import looks_like_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFile:
    """One file to process: its absolute path and whether it is a photo (one frame) or a video."""

    path: Path
    photo: bool


def is_input(path: Path) -> bool:
    """A video (by extension) or a picture (by extension or first bytes, the single run's own test)."""
    return is_video_name(path) or looks_like_image(path)


def find_inputs(specs: list[str]) -> list[InputFile]:
    """Every input file once (by real path), in the order given; none found is a bad argument."""
    seen: dict[Path, InputFile] = {}
    skipped = 0
    for spec in specs:
        found = expand(spec, is_input, recursive=True)
        if not found.matched:
            raise SourceError(f"{spec} does not exist and matches nothing; check the INPUTS (files, folders or quoted globs)")
        skipped += found.skipped
        for path in found.files:
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
