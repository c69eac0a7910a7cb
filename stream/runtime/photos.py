"""A folder or a glob of photos -> one side-by-side image per photo, in an output folder.

The model is loaded once for the whole batch (per photo it would cost more than the
photos). Each photo is one ordinary run of the app (photo source -> pipeline -> image
sink), so a photo comes out the same alone or in a batch. A photo that fails is named in
a warning and the rest go on; the exit code says whether any failed. Every check that
can be made before work is made before work: inputs found, names distinct, no output on
top of an input, the output folder writable.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stream.config.settings import Settings
from stream.core.errors import DepthStreamError, OutputError, SourceError
from stream.core.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, has_glob
from stream.core.modelinfo import model_info_of
from stream.core.protocols import Estimator
from stream.core.staging import check_writable_folder
from stream.export import depth_output_files
from stream.pipeline.stats import PipelineStats
from stream.runtime import estimators
from stream.runtime.frontend import Frontend
from stream.runtime.plan import output_name, refuse_collisions
from stream.runtime.result import RunResult
from stream.runtime.single import run_source
from stream.sources.expand import expand
from stream.sources.registry import is_photo, names_no_path
from stream.sources.still import looks_like_image

log = logging.getLogger(__name__)

SOME_FAILED_EXIT_CODE = 2  # like any bad input: the user has files to look at


@dataclass
class BatchReport:
    """What became of each photo: the outputs written and, per failed photo, why."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    stopped_by: int | None = None

    def summary(self, folder: Path) -> str:
        total = len(self.written) + len(self.failed)
        text = f"done: {total} image{'s' if total != 1 else ''}"
        if self.failed:
            named = ", ".join(f"{path.name}: {reason}" for path, reason in self.failed[:3])
            more = f", and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f", {len(self.failed)} failed ({named}{more})"
        if self.written:
            text += f"; wrote {folder}{os.sep}"
        if self.stopped_by is not None:
            text += f" (stopped by {signal.Signals(self.stopped_by).name})"
        return text


def is_image_batch(settings: Settings) -> bool:
    """A folder or a glob as ``--source``, or one photo with ``--output`` an existing folder."""
    spec = settings.source.strip()
    if not spec or names_no_path(spec):
        return False
    path = Path(spec)
    if path.is_dir():
        return True
    if not path.exists() and has_glob(spec):
        return True
    return is_photo(spec) and isinstance(settings.output, Path) and settings.output.is_dir()


def find_images(spec: str) -> list[Path]:
    """The photos a folder holds (not its subfolders) or a glob matches, by name; files that are no picture are skipped."""
    path = Path(spec)
    expanded = expand(spec, looks_like_image)
    if not expanded.matched:
        raise SourceError(f"nothing matches {spec}; check --source (a photo, a folder or glob of images, a video)")
    found = expanded.files
    if not found and path.is_dir():
        raise SourceError(f"{spec} is a folder with no images in it (looked for {' '.join(IMAGE_EXTENSIONS)}); "
                          "pass a video file, a photo or a folder of images to --source")
    if not found:
        raise SourceError(f"no images in {spec} (looked for {' '.join(IMAGE_EXTENSIONS)}); check --source")
    if expanded.skipped:
        log.info("note: %d file(s) in %s are not images and were skipped", expanded.skipped, spec)
    return found


def plan_outputs(inputs: list[Path], folder: Path, image_format: str = "keep",
                 extras: Callable[[Path], list[Path]] | None = None) -> list[tuple[Path, Path]]:
    """(photo, output) pairs, each output named as its photo; refused if two share a name or one is an input.

    ``extras(photo)``: the other files the photo's run writes (its depth, sidecar, point
    cloud), held to the same two rules: ``a.jpg`` and ``a.png`` share a depth name.
    """
    pairs = [(photo, folder / output_name(photo, image_format)) for photo in inputs]
    refuse_collisions([(str(photo), photo, [target, *(extras(photo) if extras else [])]) for photo, target in pairs],
                      same_fix="give --source images with distinct names", input_fix="choose another --output folder")
    return pairs


def prepare_folder(settings: Settings) -> Path:
    """The output folder, created if missing and proven writable; refused when it is a file or missing."""
    folder = settings.output
    if not isinstance(folder, Path):
        given = f" (not the stream {folder})" if folder is not None else ""
        raise OutputError(f"a folder or glob of images needs a folder for the results{given}; pass --output DIR/")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output {folder} is a file, but a folder or glob of images writes one image each; "
                          "give a folder (e.g. --output out/)")
    if not folder.exists() and folder.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        raise OutputError(f"--output {folder} names a file, but a folder or glob of images writes one image each; "
                          "give a folder (e.g. --output out/)")
    check_writable_folder(folder, "--output", create=True)
    return folder


def short_reason(error: DepthStreamError, photo: Path) -> str:
    """The error's cause without the path and the fix: ``declares 30000x30000 pixels (...), more than images.max_pixels``."""
    reason = str(error).split(";")[0].replace(str(photo), "").strip()
    return reason.removeprefix("is ").strip() or type(error).__name__


def run_photo_folder(settings: Settings, frontend: Frontend, estimator: Estimator | None, cancel: threading.Event) -> RunResult:
    """Every photo of the folder or glob through one model; a failed photo is reported and skipped."""
    inputs = find_images(settings.source)  # a bad --source is named before a bad --output
    check_batch_extras(settings)
    folder = prepare_folder(settings)
    pairs = plan_outputs(inputs, folder, settings.images.format, lambda photo: per_photo_files(settings, photo))
    for flag, extra in (("--depth-output", settings.export.depth_output), ("--pointcloud", settings.export.pointcloud)):
        if extra is not None:
            check_writable_folder(extra, flag)
    existing = sum(1 for _, target in pairs if target.exists())
    if existing:
        log.warning("note: %d of the outputs exist in %s and will be replaced", existing, folder)
    if estimator is None:
        estimator = estimators.make_estimator(settings)
    log.info("model: %s", model_info_of(estimator).describe())  # once: each photo's own run is quiet
    shown = frontend if frontend.shows_photo_folders else Frontend()
    report, stats = run_each(settings, estimator, pairs, shown, cancel)
    stats.finished_at = time.monotonic()
    code = SOME_FAILED_EXIT_CODE if report.failed else 0
    if report.stopped_by is not None:
        code = 130 if report.stopped_by == signal.SIGINT else 143
    return RunResult(stats, code, folder if report.written else None, report.stopped_by, text=report.summary(folder),
                     finished=report.stopped_by is None and not cancel.is_set())


def check_batch_extras(settings: Settings) -> None:
    """Per-photo extras need per-photo names: depth and point clouds go to folders; probes need one source."""
    from stream.core.errors import ConfigError

    if settings.probe.points:
        raise ConfigError("--probe reads one source; run it on one photo or video, not a folder of photos")
    for flag, path in (("--depth-output", settings.export.depth_output), ("--pointcloud", settings.export.pointcloud)):
        if path is not None and path.suffix:
            raise ConfigError(f"a folder of photos gives one file per photo: pass {flag} a folder (e.g. {path.parent / 'depth'}/), "
                              "each photo's file is named after it")


def per_photo_exports(settings: Settings, photo: Path) -> dict[str, Path | None]:
    """``--depth-output DIR/`` -> ``DIR/<photo>.png`` (16-bit), ``--pointcloud DIR/`` -> ``DIR/<photo>.ply``."""
    export = settings.export
    return {
        "depth_output": export.depth_output / f"{photo.stem}.png" if export.depth_output is not None else None,
        "pointcloud": export.pointcloud / f"{photo.stem}.ply" if export.pointcloud is not None else None,
    }


def per_photo_files(settings: Settings, photo: Path) -> list[Path]:
    """The files one photo's run writes besides its picture: its depth and sidecar, its point cloud."""
    exports = per_photo_exports(settings, photo)
    depth, cloud = exports["depth_output"], exports["pointcloud"]
    return [*(depth_output_files(depth) if depth is not None else ()), *((cloud,) if cloud is not None else ())]


def run_each(settings: Settings, estimator: Estimator, pairs: list[tuple[Path, Path]], frontend: Frontend,
             cancel: threading.Event) -> tuple[BatchReport, PipelineStats]:
    """One run per photo (file mode, no per-photo bar, the one frontend), under one bar over the photos."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    report, stats = BatchReport(), PipelineStats()
    quiet = [logging.getLogger(name) for name in ("stream.runtime.single", "stream.runtime.checks")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)  # no "source: ..." nor "exists" line per photo: said once above
    try:
        with logging_redirect_tqdm(), tqdm(pairs, unit="image", desc="images", file=sys.stderr, leave=False,
                                            dynamic_ncols=True, disable=not settings.display.progress) as bar:
            for photo, target in bar:
                export = settings.export.model_copy(update=per_photo_exports(settings, photo))
                one = settings.for_one_file(photo, target, export=export)
                try:
                    result = run_source(one, frontend, estimator, cancel)
                except DepthStreamError as exc:
                    log.warning("warning: %s failed: %s", photo.name, exc)
                    report.failed.append((photo, short_reason(exc, photo)))
                    continue
                except KeyboardInterrupt:
                    report.stopped_by = signal.SIGINT
                    break
                stats.captured += result.stats.captured
                stats.inferred += result.stats.inferred
                stats.displayed += result.stats.displayed
                if result.interrupted_by is not None:
                    report.stopped_by = result.interrupted_by
                    break
                if result.output is not None:
                    report.written.append(result.output)
                if cancel.is_set():
                    break
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    return report, stats
