"""Checks that the output (a video, or an image for a photo) can be created where asked, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any

from stream.core.errors import OutputError
from stream.core.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from stream.core.staging import check_writable_folder


def check_output_path(path: Path, image_source: bool = False) -> None:
    """Fail before any work if the output cannot be created where asked.

    A photo (``image_source``) may be written as an image or as a one-frame video; a video
    cannot be written as one image, which would silently keep a single frame of it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'out.mp4'}")
    if suffix in IMAGE_EXTENSIONS and not image_source:
        raise OutputError(f"output {path} is one image, but --source is not a photo (it gives many frames); use a video extension "
                          f"({' '.join(VIDEO_EXTENSIONS)}), or pass a photo or a folder of images as --source")
    if image_source and suffix not in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
        raise OutputError(f"output {path} has no image or video extension written here; use one of "
                          f"{' '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}")
    if suffix not in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
        raise OutputError(f"output {path} has no video extension FFmpeg writes here; use one of {' '.join(VIDEO_EXTENSIONS)}")
    if not path.exists():
        check_writable_folder(path.parent, "--output")  # a missing folder is made (and said), as for every output
        return
    try:  # a real open, not os.access: permission bits lie to root
        with open(path, "r+b"):
            pass
    except OSError as exc:
        raise OutputError(f"--output: file {path} is not writable ({exc.strerror}); choose another --output") from None


def suffix_of(container: Any) -> str:
    """The extension of an output container's file (``.webm``), for messages."""
    return PurePath(str(container.name)).suffix or container.format.name


def same_file(output: Path, given: str | Path) -> bool:
    """Whether ``output`` is the file ``given`` names (symlinks, ``./`` and ``file://`` spellings included)."""
    candidate = Path(str(given).removeprefix("file://"))
    try:
        return output.exists() and candidate.exists() and os.path.samefile(output, candidate)
    except OSError:
        return False


def same_path(first: str | Path, second: str | Path) -> bool:
    """Whether two names write the same file, existing or not (two outputs of one run must not).

    Resolved (symlinks, ``..``, ``./``, ``file://``) and case-folded where the system folds
    case; an existing pair is also compared by ``samefile`` (hard links).
    """
    one, other = (Path(str(name).removeprefix("file://")) for name in (first, second))
    if same_file(one, other):
        return True
    return os.path.normcase(os.path.realpath(one)) == os.path.normcase(os.path.realpath(other))
