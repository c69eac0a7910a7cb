"""Checks on ``--depth-output`` and ``--pointcloud`` made before any work: one line naming the flag and the fix.

``check_paths`` runs with the other output checks, before the source is opened;
``check_source`` once the source is open (its kind is known) and before the model loads:
one-frame formats (``.png`` ``.npy`` ``.pfm``) and point clouds need a single picture.
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import OutputError
from stream.core.staging import check_writable_folder
from stream.export.factory import depth_format
from stream.export.registry import DEPTH_FORMATS, FOLDER, one_frame_formats, video_formats
from stream.export.sidecar import sidecar_path


def check_depth_output(path: Path) -> None:
    kind = depth_format(path)
    if kind == FOLDER:
        if path.exists() and not path.is_dir():
            raise OutputError(f"--depth-output {path} is a file, not a folder; give a folder DIR/ or a file name with an extension")
        check_writable_folder(path, "--depth-output")
        return
    if kind not in DEPTH_FORMATS:
        raise OutputError(f"--depth-output {path}: unknown extension {path.suffix!r}; use {' '.join(one_frame_formats())} "
                          f"(a photo), {' '.join(video_formats())} or a folder DIR/ (a video)")
    check_writable_folder(path.parent, "--depth-output")


def depth_output_files(path: Path) -> tuple[Path, Path]:
    """The names ``--depth-output`` may write: itself and its sidecar (``PATH.json``; a folder's ``DIR/depth.json``)."""
    return path, sidecar_path(path, folder=depth_format(path) == FOLDER)


def check_pointcloud(path: Path) -> None:
    if path.is_dir() or path.suffix.lower() != ".ply":
        raise OutputError(f"--pointcloud {path} is not a .ply file name; give one such as cloud.ply")
    check_writable_folder(path.parent, "--pointcloud")


def check_paths(depth_output: Path | None, pointcloud: Path | None) -> None:
    """Extensions and folders of the export paths (no input check here: the app does that for every output)."""
    if depth_output is not None:
        check_depth_output(Path(depth_output))
    if pointcloud is not None:
        check_pointcloud(Path(pointcloud))


def check_source(depth_output: Path | None, pointcloud: Path | None, single_picture: bool) -> None:
    """One-frame outputs need one picture: a photo, a one-frame file or ``--max-frames 1``."""
    if single_picture:
        return
    if depth_output is not None and depth_format(Path(depth_output)) in one_frame_formats():
        raise OutputError(f"--depth-output {depth_output} holds one picture but the source is a video; "
                          f"use {', '.join(video_formats())} or a folder DIR/ (or --max-frames 1 for the first frame only)")
    if pointcloud is not None:
        raise OutputError(f"--pointcloud {pointcloud} needs a photo but the source is a video; give an image as --source, "
                          "add --max-frames 1 for the first frame, or press p in the window to save the frame shown")
