"""Video jobs: one at a time per server, the rest queued in order with a visible position.

A video is processed like ``--source clip.mp4 --output depth.mp4 --headless --mode file``:
every frame, audio kept, by the app's own run (``stream.runtime.run.run``) with a copy of the
server's settings. One worker thread (``depth-web-jobs``) takes jobs from a FIFO: the CPU
is the bottleneck, so two jobs at once would each take twice as long and neither would
finish sooner. A job's progress is the frames written so far (the app's ``on_frame``
hook) against the frame count read when it was uploaded. ``close`` (the server stopping)
cancels the running job through its stop event, drops the waiting ones and joins the
worker; a cancelled job's partial output is deleted with its folder.

A job that fails part-way (damage only decoding finds) says so with the user's own file
name, never the server's path for it, and offers the frames done before the failure when
that partial video plays.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stream.config.settings import ProbeSettings, Settings
from stream.core.errors import DepthStreamError, StageError
from stream.core.protocols import Estimator
from stream.pipeline.stats import PipelineStats
from stream.sinks.crashsafe import plays
from stream.web.sniff import UploadRejected, VideoFacts
from stream.web.store import Entry, Stored, UploadStore, download_name, shown_name

log = logging.getLogger(__name__)

OUTPUT_NAME = "depth.mp4"  # H.264 in MP4: what every browser plays and downloads
JOIN_SECONDS = 15.0  # the pipeline stops within 2 s; finalizing the video takes a moment more


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # the server stopped before the job finished


@dataclass
class Job:
    """One uploaded video on its way through the queue."""

    entry: Entry
    source: Path
    client_name: str | None
    facts: VideoFacts
    state: JobState = JobState.QUEUED
    frames_done: int = 0
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    partial: bool = False  # failed part-way: the frames before the failure are offered

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def name(self) -> str:
        """The file's name as the user chose it (what every message about the job calls it)."""
        return shown_name(self.client_name, "your video")

    def cancel(self) -> None:
        self.cancelled = True
        self.stop.set()


def video_settings(settings: Settings, source: Path, output: Path) -> Settings:
    """The server's settings for one video: file mode (every frame), headless, no extra exports, no probes."""
    export = settings.export.model_copy(update={"depth_output": None, "pointcloud": None})
    return settings.for_one_file(source, output, max_frames=None, export=export, probe=ProbeSettings())


def run_video(job: Job, settings: Settings, store: UploadStore, estimator: Estimator) -> None:
    """Process one job to its end state; its output is offered for download only if it completed."""
    from stream.runtime.run import run

    output = job.entry.path(OUTPUT_NAME)

    def progressed(stats: PipelineStats) -> None:
        job.frames_done = stats.displayed

    try:
        result = run(video_settings(settings, job.source, output), estimator, job.stop, on_frame=progressed)
        written = result.output
    except DepthStreamError as exc:
        job.error, written = users_words(exc, job), None
    except Exception as exc:
        log.exception("video job %s failed", job.id)
        job.error, written = users_words(f"processing failed ({type(exc).__name__}: {exc})", job), None
    job.source.unlink(missing_ok=True)
    if job.cancelled:
        job.state = JobState.STOPPED
        store.discard(job.id)  # the partial output goes with the folder
        return
    if written is None:
        job.error = job.error or f"no frame of {job.name} could be processed"
        job.partial = job.frames_done > 0 and plays(output)
        if not job.partial:
            output.unlink(missing_ok=True)
        files = {OUTPUT_NAME: Stored(output, download_name(job.client_name, "-depth-partial.mp4", "video"))} if job.partial else {}
        job.state = JobState.FAILED
        store.offer(job.entry, files)  # the record expires like a result would
        return
    store.offer(job.entry, {OUTPUT_NAME: Stored(written, download_name(job.client_name, "-depth.mp4", "video"))})
    job.state = JobState.DONE


def users_words(error: DepthStreamError | str, job: Job) -> str:
    """A failure as the page shows it: the user's file name for the server's path to it, no stage jargon.

    ``capture stage: /tmp/depth-stream-uploads-x/ab12/input.video is truncated ...`` becomes
    ``holiday.mp4 is truncated ...``: the user never chose that path and cannot act on it.
    """
    cause = error.cause if isinstance(error, StageError) and isinstance(error.cause, DepthStreamError) else error
    text = str(cause)
    for server_path in (str(job.source), str(job.entry.folder)):
        text = text.replace(server_path, job.name)
    return text


class JobQueue:
    """A FIFO of jobs and the single worker thread that runs them (``run_job`` does the work)."""

    def __init__(self, run_job: Callable[[Job], None], max_queued: int) -> None:
        self._run_job = run_job
        self.max_queued = max_queued
        self._waiting: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="depth-web-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def check_room(self) -> None:
        """``UploadRejected`` (429) when a new video could not be queued (asked before its upload is read)."""
        with self._cond:
            self._check_room()

    def _check_room(self) -> None:
        room = self.max_queued + (0 if self._running is not None else 1)
        if self._closed or len(self._waiting) >= room:
            raise UploadRejected(429, f"{len(self._waiting)} videos are already waiting (the most this server queues: "
                                      f"{self.max_queued}); try again when one has finished")

    def submit(self, job: Job) -> int:
        """Queue ``job``; its position (0 = it starts now)."""
        with self._cond:
            self._check_room()
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._cond.notify_all()
            return self._position(job)

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every job the server holds (waiting, running, or finished and not yet expired), oldest first."""
        with self._cond:
            return list(self._jobs.values())

    def position(self, job: Job) -> int:
        """1 = next after the running job, 2 = after that one...; 0 once running or finished."""
        with self._cond:
            return self._position(job)

    def _position(self, job: Job) -> int:
        try:
            index = self._waiting.index(job)
        except ValueError:
            return 0
        return index + (1 if self._running is not None else 0)

    def forget(self, job_id: str) -> None:
        """Drop a finished job's record (its results expired)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in (JobState.QUEUED, JobState.RUNNING):
                del self._jobs[job_id]

    def close(self) -> None:
        """Cancel the running job, drop the waiting ones, and wait for the worker to end."""
        with self._cond:
            self._closed = True
            for job in self._waiting:
                job.state = JobState.STOPPED
            self._waiting.clear()
            if self._running is not None:
                self._running.cancel()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)
            if self._thread.is_alive():
                log.warning("the video job worker did not stop within %.0f s (abandoned)", JOIN_SECONDS)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._running = self._waiting.popleft()
                job.state = JobState.RUNNING
            try:
                self._run_job(job)
            except Exception:
                log.exception("video job %s failed", job.id)
                job.state = JobState.FAILED
            finally:
                with self._cond:
                    self._running = None
