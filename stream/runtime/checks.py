"""Everything a user can get wrong about outputs, checked before any thread starts.

A bad output path costs no work and leaves no half-written file: each check names the flag
and the fix in one line. Replacing an existing file is said once, before the work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stream.config.settings import Settings
from stream.core.errors import OutputError
from stream.core.names import abbreviated, name_bytes, name_limit
from stream.export import check_paths, check_source, depth_output_files, sidecar_path
from stream.export.factory import depth_format
from stream.export.registry import FOLDER
from stream.runtime.estimators import one_picture
from stream.sinks import check_output_path
from stream.sinks.paths import same_file, same_path
from stream.sinks.probe_csv import check_probe_csv, probe_csv_path
from stream.sinks.targets import StreamTarget, check_stream_target, output_file
from stream.sources.base import SourceInfo
from stream.sources.registry import is_photo

log = logging.getLogger(__name__)


def check_output(settings: Settings) -> None:
    """Before anything opens: the output can be written, is no input, and replacing a file is said."""
    output = settings.output
    if output is None:
        return
    if isinstance(output, StreamTarget):  # sent on, not a file: nothing to create, replace or open here
        check_stream_target(output)
        return
    check_output_path(output, image_source=is_photo(settings.source))
    refuse_input(settings, output, "--output")
    announce_replacement(output)


def announce_replacement(path: Path) -> None:
    """An existing file is replaced only after one line saying so (folders were refused before)."""
    if path.is_file():
        log.warning("note: %s exists and will be replaced", path)


def refuse_input(settings: Settings, output: Path, flag: str) -> None:
    """An output path that is one of the inputs (through any spelling) is refused: writing it would destroy it."""
    for role, given in (("--source", settings.source), ("--model", settings.model.onnx), ("--weights", settings.model.weights)):
        if given is not None and same_file(output, given):
            raise OutputError(f"{flag} {output} is the same file as {role} {given}; writing it would destroy the input, "
                              f"so choose another {flag}")


def check_exports(settings: Settings) -> None:
    """Before anything opens: the depth and point-cloud paths have known extensions, writable folders, are no input."""
    export = settings.export
    check_paths(export.depth_output, export.pointcloud)
    for flag, path in (("--depth-output", export.depth_output), ("--pointcloud", export.pointcloud)):
        if path is not None:
            refuse_input(settings, path, flag)
            announce_replacement(path)


def check_export_source(settings: Settings, info: SourceInfo) -> None:
    """Once the source is open, before the model loads: one-picture exports (PNG/NPY/PFM, PLY) need one picture."""
    check_source(settings.export.depth_output, settings.export.pointcloud, one_picture(settings, info))


def plan_probe_csv(settings: Settings) -> Path | None:
    """Where the ``--probe`` rows go (None: no probe), checked before anything opens."""
    output = output_file(settings.output)
    path = probe_csv_path(settings.probe.points, settings.probe.csv, output)
    if path is None:
        return None
    check_probe_csv(path, (settings.source, settings.model.onnx, settings.model.weights, output))
    announce_replacement(path)
    return path


def check_name_lengths(settings: Settings) -> None:
    """Before anything else touches the output paths: every name the run will write fits the file system.

    A name the user gives may fit while one derived from it does not (``NAME.probe.csv``, the
    ``NAME.json`` sidecar of a depth file): refused here in one line naming the output and the
    limit, not after the work when the rename fails. (Temporary names always fit: they are
    shortened where they are made.)"""
    output = output_file(settings.output)
    export = settings.export
    for flag, path in (("--output", output), ("--depth-output", export.depth_output), ("--pointcloud", export.pointcloud),
                       ("--probe-csv", settings.probe.csv if settings.probe.points else None)):
        if path is not None:
            refuse_overlong(Path(path), flag)
    if export.depth_output is not None and depth_format(Path(export.depth_output)) != FOLDER:
        refuse_overlong(sidecar_path(Path(export.depth_output)), "--depth-output", "its sidecar")
    if settings.probe.points and settings.probe.csv is None:
        derived = probe_csv_path(settings.probe.points, None, output)
        if derived is not None:
            refuse_overlong(derived, "--output", "the probe CSV")


def refuse_overlong(path: Path, flag: str, derived: str | None = None) -> None:
    """One line if ``path``'s name is longer than its folder takes, naming the output, its length and the limit."""
    size, limit = name_bytes(path.name), name_limit(path.parent)
    if size <= limit:
        return
    what = f"{flag} {abbreviated(path.name)} is" if derived is None else f"{derived} {abbreviated(path.name)} (from {flag}) would be"
    fix = f"choose a shorter {flag}" + (" or pass --probe-csv" if derived == "the probe CSV" else "")
    raise OutputError(f"{what} a {size}-byte name, over the file system's limit of {limit} bytes per name; {fix}")


def run_outputs(settings: Settings) -> list[tuple[str, Path]]:
    """Every file this run writes, each named as the user knows it: the flag, or whose sidecar it is."""
    outputs: list[tuple[str, Path]] = []
    output = output_file(settings.output)
    if output is not None:
        outputs.append(("--output", output))
    depth = settings.export.depth_output
    if depth is not None:
        depth_file, sidecar = depth_output_files(Path(depth))
        outputs += [("--depth-output", depth_file), ("--depth-output's sidecar", sidecar)]
    if settings.export.pointcloud is not None:
        outputs.append(("--pointcloud", Path(settings.export.pointcloud)))
    probe = probe_csv_path(settings.probe.points, settings.probe.csv, output)
    if probe is not None:
        outputs.append(("--probe-csv", probe))
    return outputs


def check_collisions(settings: Settings) -> None:
    """Before any work: no two outputs of the run on one file, and none on an input; one line naming both.

    Without it the later writer silently replaces the earlier one's file (a picture lost
    under its own depth, a depth sidecar under the probe rows).
    """
    outputs = run_outputs(settings)
    inputs = [(role, given) for role, given in (("--source", settings.source), ("--model", settings.model.onnx),
                                                  ("--weights", settings.model.weights)) if given is not None]
    for index, (flag, path) in enumerate(outputs):
        for other_flag, other in outputs[:index]:
            if same_path(path, other):
                raise OutputError(f"{flag} {path} is the same file as {other_flag} {other}; one would replace the other, "
                                  "so give each output its own name")
        for role, given in inputs:
            if same_file(path, given):
                raise OutputError(f"{flag} {path} is the same file as {role} {given}; writing it would destroy the input, "
                                  "so give the output another name")
