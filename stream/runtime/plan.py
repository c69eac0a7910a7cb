"""Output names planned before any work: each output named after its input, none on an input, no two on one name.

A folder of photos (``photos``) and a batch (``stream.batch.jobs``) name their outputs the
same way and refuse the same two mistakes with the same one-line messages; only the fix
each message names differs (the flag the user gave).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stream.core.errors import OutputError


def output_name(source: Path, image_format: str = "keep", video_ext: str | None = None) -> str:
    """The output's file name: a video's stem with ``video_ext``; a photo's name, with ``image_format``'s extension unless ``keep``."""
    if video_ext is not None:
        return f"{source.stem}.{video_ext}"
    return source.name if image_format == "keep" else f"{source.stem}.{image_format}"


def refuse_collisions(planned: Iterable[tuple[str, Path, Iterable[Path]]], same_fix: str, input_fix: str) -> None:
    """``(name, input, outputs)`` per input: refused if an output is any input or two inputs share an output.

    ``name`` is how messages call the input (a batch shows it relative to the mirrored root);
    the fixes end the messages (``give --source images with distinct names``).
    """
    planned = list(planned)
    inputs = {source.resolve(): source for _, source, _ in planned}
    owners: dict[Path, str] = {}
    for name, _, finals in planned:
        for final in finals:
            key = final.resolve()
            if key in inputs:
                raise OutputError(f"{final} would overwrite the input {inputs[key]}; {input_fix}")
            if owners.get(key) == name:
                raise OutputError(f"two outputs of {name} would both be written as {final}; give each output flag its own folder")
            if key in owners:
                raise OutputError(f"{owners[key]} and {name} would both be written as {final}; {same_fix}")
            owners[key] = name
