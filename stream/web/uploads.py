"""Photo and video uploads for the web page: the routes, the streamed upload, the clean-up.

``add_upload_routes(app, settings, make_estimator)`` is the one call the server makes. It
registers:

* ``POST /api/photo`` (multipart, field ``file``): the side-by-side PNG, 16-bit depth PNG
  and PLY point cloud of the photo, as URLs in JSON (``stream.web.photo``);
* ``POST /api/video``: queues a video job (``stream.web.jobs``), 202 with its status;
* ``GET /api/jobs``: the limits and every job the server holds (the page lists those of
  its browser session from it, so a reload loses none); ``GET /api/jobs/{id}``: one job's
  state, queue position, progress and, once there, its download (with ``--serve-token``,
  both only with the token, like every route);
* ``GET /api/files/{id}/{name}``: a result, shown inline, or with ``?download=1`` as an
  attachment named after the client's file, deleted once it has been sent in full.

An upload is streamed to disk in chunks and cut off the moment it passes
``uploads.max_mb`` (413), never read whole into memory first; its type is then checked by
content (``stream.web.sniff``, 415). A client that goes away mid-upload leaves nothing:
whatever ends the request early removes the upload's folder. Blocking work (decoding,
the model) runs in one ``depth-web-uploads`` thread; the model is made on first use
(``stream.web.shared_model``). Everything lives in the server's temporary folder
(``stream.web.store``), removed on cleanup, after the job worker has been stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from stream.config.settings import Settings
from stream.core.errors import DepthStreamError, DownloadError, InputError, ModelError
from stream.core.protocols import Estimator
from stream.web.jobs import OUTPUT_NAME, Job, JobQueue, JobState, run_video
from stream.web.photo import process_photo
from stream.web.shared_model import SharedEstimator
from stream.web.sniff import UploadRejected, check_image, check_video
from stream.web.store import Entry, UploadStore

log = logging.getLogger(__name__)

MB = 1024 * 1024
CHUNK = 256 * 1024
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself
FIELD = "file"
T = TypeVar("T")


class Uploads:
    """The state behind the routes: settings, the temporary folder, the job queue, the model."""

    def __init__(self, settings: Settings, make_estimator: Callable[[], Estimator]) -> None:
        limits = settings.uploads
        self.settings = settings
        self.max_bytes = int(limits.max_mb * MB)
        self.store = UploadStore(limits.folder, limits.keep_minutes * 60.0)
        self.estimator = SharedEstimator(make_estimator)
        self.jobs = JobQueue(lambda job: run_video(job, settings, self.store, self.estimator), limits.max_queued)
        self.photos_pending = 0
        self._executor: ThreadPoolExecutor | None = None
        self._reaper: asyncio.Task[None] | None = None

    # -- lifecycle (app.on_startup / app.on_cleanup) ----------------------------------
    async def start(self, _app: web.Application) -> None:
        root = self.store.open()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="depth-web-uploads")
        self.jobs.start()
        self._reaper = asyncio.create_task(self._reap())
        log.info("uploads: up to %g MB each, kept %g min, in %s", self.settings.uploads.max_mb,
                 self.settings.uploads.keep_minutes, root)

    async def stop(self, _app: web.Application) -> None:
        """Stop the worker (a running job is cancelled and its output deleted), then remove every file."""
        if self._reaper is not None:
            self._reaper.cancel()
        self.jobs.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    async def _reap(self) -> None:
        period = min(max(self.store.keep_seconds / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(period)
            for entry_id in self.store.expire():
                self.jobs.forget(entry_id)

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` in the uploads' thread (decoding and the model must not stall the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # -- routes ----------------------------------------------------------------------
    async def photo(self, request: web.Request) -> web.Response:
        if self.photos_pending > self.jobs.max_queued:
            return refusal(UploadRejected(429, "the server is busy with other photos; try again in a moment"))
        self.photos_pending += 1
        entry = self.store.create()
        try:
            upload, client_name = await receive(request, entry, self.max_bytes)
            suffix, width, height = await self.blocking(check_image, upload, self.settings.images.max_pixels)
            photo = upload.rename(entry.path(f"input{suffix}"))
            files = await self.blocking(process_photo, self.settings, entry, photo, client_name, self.estimator)
        except UploadRejected as exc:
            self.store.discard(entry.id)
            return refusal(exc)
        except DepthStreamError as exc:
            self.store.discard(entry.id)
            return processing_error(exc)
        except BaseException:
            self.store.discard(entry.id)  # the client went away, or the server is stopping
            raise
        finally:
            self.photos_pending -= 1
        self.store.offer(entry, files)
        urls = {name: file_url(entry.id, name) for name in files}
        return web.json_response({"id": entry.id, "width": width, "height": height, "files": urls,
                                  "downloads": {name: stored.download for name, stored in files.items()},
                                  "keep_minutes": self.settings.uploads.keep_minutes})

    async def video(self, request: web.Request) -> web.Response:
        try:
            self.jobs.check_room()  # before reading a byte: a full queue costs the client no upload
        except UploadRejected as exc:
            return refusal(exc)
        entry = self.store.create()
        try:
            upload, client_name = await receive(request, entry, self.max_bytes)
            facts = await self.blocking(check_video, upload, self.settings.images.max_pixels)
            job = Job(entry, upload.rename(entry.path("input.video")), client_name, facts)
            self.jobs.submit(job)
        except UploadRejected as exc:
            self.store.discard(entry.id)
            return refusal(exc)
        except BaseException:
            self.store.discard(entry.id)
            raise
        return web.json_response(self.job_status(job), status=202)

    async def limits(self, _request: web.Request) -> web.Response:
        uploads = self.settings.uploads
        return web.json_response({"max_mb": uploads.max_mb, "keep_minutes": uploads.keep_minutes,
                                  "max_queued": uploads.max_queued, "jobs": [self.job_status(job) for job in self.jobs.all()]},
                                 headers={"Cache-Control": "no-store"})

    async def job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return error(404, f"no such video job: finished results are deleted after their download or after "
                              f"{self.settings.uploads.keep_minutes:g} minutes; upload the video again")
        return web.json_response(self.job_status(job), headers={"Cache-Control": "no-store"})

    def job_status(self, job: Job) -> dict[str, Any]:
        total = job.facts.frames
        done = job.state is JobState.DONE
        progress = 1.0 if done else (min(job.frames_done / total, 0.99) if total else None)
        stored = self.store.lookup(job.id, OUTPUT_NAME) if done or job.partial else None
        return {"id": job.id, "name": job.name, "state": job.state.value, "position": self.jobs.position(job),
                "frames_done": job.frames_done, "frames_total": total, "progress": progress, "error": job.error,
                "partial": job.partial, "url": file_url(job.id, OUTPUT_NAME) if stored else None,
                "download": stored.download if stored else None,
                "keep_minutes": self.settings.uploads.keep_minutes}

    async def file(self, request: web.Request) -> web.StreamResponse:
        entry_id, name = request.match_info["id"], request.match_info["name"]
        stored = self.store.lookup(entry_id, name)
        if stored is None or not stored.path.is_file():
            return error(404, f"this result is no longer here: results are deleted after their download or after "
                              f"{self.settings.uploads.keep_minutes:g} minutes; upload the file again")
        if "download" not in request.query:
            return web.FileResponse(stored.path, headers={"Cache-Control": "no-store"})  # shown in the page
        response = await send_attachment(request, stored.path, stored.download)
        if request.method == "GET":
            self.store.downloaded(entry_id, name)  # sent in full: a dropped connection raised above
            if self.store.get(entry_id) is None:
                self.jobs.forget(entry_id)
        return response


async def send_attachment(request: web.Request, path: Path, name: str) -> web.StreamResponse:
    """The whole file as a download named ``name``; returns only once every byte was handed to the connection."""
    loop = asyncio.get_running_loop()
    response = web.StreamResponse(headers={"Cache-Control": "no-store", "Content-Type": "application/octet-stream",
                                           "Content-Disposition": f'attachment; filename="{name}"'})
    response.content_length = path.stat().st_size
    await response.prepare(request)
    if request.method == "GET":
        with path.open("rb") as handle:
            while chunk := await loop.run_in_executor(None, handle.read, CHUNK):
                await response.write(chunk)
    await response.write_eof()
    return response


async def receive(request: web.Request, entry: Entry, max_bytes: int) -> tuple[Path, str | None]:
    """Stream the multipart field ``file`` into the entry's folder, cut off past ``max_bytes``.

    Returns the file and the client's name for it (used only for the download name).
    """
    limit_mb = max_bytes / MB
    too_big = UploadRejected(413, f"this file is larger than the server's limit of {limit_mb:g} MB "
                                  "(uploads.max_mb); choose a smaller file")
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_SLACK:
        raise too_big
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise UploadRejected(400, "expected a multipart/form-data upload with a 'file' field") from None
    part = await file_part(reader)
    target = entry.path("upload.part")
    size = 0
    with target.open("xb") as out:  # exclusive: never onto an existing file
        try:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_big
                out.write(chunk)
        except (ConnectionError, HttpProcessingError, ValueError):
            log.info("an upload was cut off after %d bytes (the client went away or sent a broken body)", size)
            raise UploadRejected(400, "the upload was cut off before its end; send the file again") from None
    if size == 0:
        raise UploadRejected(400, "the file is empty; choose another")
    return target, part.filename


async def file_part(reader: MultipartReader) -> BodyPartReader:
    """The body's part named ``file``; a body that does not hold the boundary its header declares is a 400, not a 500."""
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, HttpProcessingError):  # aiohttp: "Could not find starting boundary"
            raise UploadRejected(400, "the upload's body does not start with the multipart boundary its Content-Type "
                                      "declares; send the file as multipart/form-data field 'file'") from None
        if part is None:
            raise UploadRejected(400, "the upload has no 'file' field; send the file as multipart field 'file'")
        if isinstance(part, BodyPartReader) and part.name == FIELD:
            return part


def file_url(entry_id: str, name: str) -> str:
    return f"/api/files/{entry_id}/{name}"


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def refusal(exc: UploadRejected) -> web.Response:
    return error(exc.status, str(exc))


def processing_error(exc: DepthStreamError) -> web.Response:
    """The app refused or failed: the model cannot load (503), the file itself (422), anything else (500)."""
    if isinstance(exc, (ModelError, DownloadError)):
        return error(503, f"the depth model is not available: {exc}")
    return error(422 if isinstance(exc, InputError) else 500, str(exc))


UPLOADS = web.AppKey("uploads", Uploads)


def add_upload_routes(app: web.Application, settings: Settings, make_estimator: Callable[[], Estimator]) -> None:
    """Register the upload routes and their startup/cleanup hooks on ``app`` (the server's one call)."""
    uploads = Uploads(settings, make_estimator)
    app[UPLOADS] = uploads
    app.router.add_post("/api/photo", uploads.photo)
    app.router.add_post("/api/video", uploads.video)
    app.router.add_get("/api/jobs", uploads.limits)
    app.router.add_get("/api/jobs/{id}", uploads.job)
    app.router.add_get("/api/files/{id}/{name}", uploads.file)
    app.on_startup.append(uploads.start)
    app.on_cleanup.append(uploads.stop)
