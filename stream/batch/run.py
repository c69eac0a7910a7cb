"""From inputs and settings to a finished batch: plan, skip what is done, run the rest on Ray, summarise.

Everything a user can get wrong is refused before Ray starts (inputs, output folder, name
collisions, and for a local run the model itself), so a bad argument costs a second, not a
cluster start-up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stream.batch.address import check_address
from stream.batch.cluster import Sizing, ray_session, size_actors
from stream.batch.driver import Scheduler
from stream.batch.inputs import find_inputs
from stream.batch.jobs import Job, plan_jobs, prepare_output_dir
from stream.batch.lock import only_batch_in
from stream.batch.manifest import Manifest, settings_fingerprint
from stream.batch.partial import clean_partials
from stream.batch.progress import header_frames, progress_bar
from stream.batch.summary import BatchSummary, FileResult
from stream.config.settings import Settings

log = logging.getLogger("stream.batch")


@dataclass(frozen=True)
class BatchOptions:
    """The batch's own choices (the model, colours and codec are in ``Settings``, as for a single run)."""

    output_dir: Path
    ext: str = "mp4"  # container of the annotated videos
    depth: str | None = None  # "16bit" or "raw": keep each file's depth beside its output
    ray_address: str | None = None  # None: a local Ray instance on this machine's cores
    actors: int | None = None
    threads_per_actor: int | None = None


def plan(settings: Settings, specs: list[str], options: BatchOptions) -> tuple[Path, list[Job]]:
    """The output folder and the jobs, all checked; a bad argument raises an ``InputError``."""
    inputs = find_inputs(specs)
    if options.ray_address is not None:
        check_address(options.ray_address)
    folder = prepare_output_dir(options.output_dir, specs)
    return folder, plan_jobs(inputs, folder, settings, options.ext, options.depth)


def run_batch(settings: Settings, specs: list[str], options: BatchOptions) -> BatchSummary:
    """Process every input not finished by an earlier run; one failed file never stops the others."""
    folder, jobs = plan(settings, specs, options)
    with only_batch_in(folder):
        return run_planned(settings, folder, jobs, options)


def run_planned(settings: Settings, folder: Path, jobs: list[Job], options: BatchOptions) -> BatchSummary:
    start = time.monotonic()
    if clean_partials(folder):
        log.info("note: removed the unfinished outputs a stopped run left in %s", folder)
    manifest = Manifest(folder, settings_fingerprint(settings, options.ext, options.depth))
    results = {job.key: failed(job.key, job.problem) for job in jobs if job.problem is not None}  # never sent to a worker
    results.update({job.key: FileResult(job.key, "skipped") for job in jobs if job.key not in results and manifest.is_done(job)})
    todo = [job for job in jobs if job.key not in results]
    sizing, stopped_by = Sizing(0, 0, 0.0), None
    if todo:
        if options.ray_address is None:
            check_model(settings, size_actors(float(os.cpu_count() or 1), options.actors, options.threads_per_actor))
        sizing, stopped_by = run_on_ray(settings, todo, options, manifest, results, len(jobs))
    ordered = [results.get(job.key) or FileResult(job.key, "not run") for job in jobs]
    return BatchSummary(ordered, time.monotonic() - start, sizing.actors, sizing.threads, stopped_by)


def failed(key: str, error: str) -> FileResult:
    """A file that failed, said once as it happens (the summary lists it again)."""
    log.warning("warning: %s failed: %s", key, error)
    return FileResult(key, "failed", error=error)


def check_model(settings: Settings, sizing: Sizing) -> None:
    """A local run makes the model once here: a bad model is one line before Ray starts, and the
    workers find the exported ONNX file and the engine decision already in the cache, measured
    for the batch's shape (its actors' engines inferring at once) by one process, not by each actor."""
    from stream.runtime.estimators import make_estimator

    make_estimator(for_actors(settings, sizing, local=True), at_once=sizing.actors)


def for_actors(settings: Settings, sizing: Sizing, local: bool) -> Settings:
    """The actors' settings: their threads; on this machine, ``model.streams`` = the engines at once (what ``auto``
    measured). A cluster's actors are spread over machines, so there each measures its own engine alone."""
    update = {"threads": sizing.threads, "streams": sizing.actors if local else 0}
    return settings.model_copy(update={"model": settings.model.model_copy(update=update)})


def run_on_ray(settings: Settings, todo: list[Job], options: BatchOptions, manifest: Manifest,
               results: dict[str, FileResult], files_total: int) -> tuple[Sizing, int | None]:
    from stream.runtime.signals import StopOnSignal

    def on_result(job: Job, result: FileResult) -> None:
        result.outputs = [Path(path).relative_to(manifest.folder).as_posix() for path in result.outputs]
        if result.status == "done":
            manifest.record(job, [manifest.folder / path for path in result.outputs], result.frames, result.seconds)
        else:
            log.warning("warning: %s failed: %s", job.key, result.error)
        results[job.key] = result

    with ray_session(options.ray_address, os.cpu_count() or 1) as cpus:
        sizing = size_actors(cpus, options.actors, options.threads_per_actor)
        settings = for_actors(settings, sizing, local=options.ray_address is None)
        stop = threading.Event()
        with StopOnSignal(stop) as signals:  # after ray.init, which sets its own SIGTERM handler
            expected = {job.key: header_frames(job, settings.max_frames) for job in todo}
            log.info("batch: %d file(s) to process (%d finished earlier), %d frames, %d actor(s) x %d thread(s) on %g CPUs",
                     len(todo), files_total - len(todo), sum(expected.values()), sizing.actors, sizing.threads, cpus)
            with progress_bar(expected, files_total, files_total - len(todo), settings.display.progress) as progress:
                scheduler = Scheduler(settings, sizing, stop, progress, on_result)
                try:
                    scheduler.start_actors()
                    if not stop.is_set():
                        scheduler.run(todo)
                finally:
                    scheduler.abandon()
        return sizing, signals.received
