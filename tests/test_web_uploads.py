"""Photo and video uploads over real HTTP: the routes on a bare aiohttp app, served on 127.0.0.1, a real client.

Each test starts the server (``add_upload_routes`` on an empty ``web.Application``, run by
``AppRunner`` on an ephemeral port), talks to it with ``aiohttp.ClientSession`` or a raw
socket, and stops it; the results are decoded back (PNG, 16-bit PNG, PLY, video with audio).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web
from plyfile import PlyData

from stream.runtime.estimators import make_estimator
from stream.web.uploads import UPLOADS, Uploads, add_upload_routes
from tests.media import make_video, pattern_frame, read_video
from tests.test_app import settings_for

WAIT = 30.0  # seconds a test waits for something the server does before giving up (a hang, not a timing check)


@dataclass
class Server:
    base: str
    http: aiohttp.ClientSession
    uploads: Uploads

    @property
    def root(self) -> Path:
        assert self.uploads.store.root is not None
        return self.uploads.store.root

    def url(self, path: str) -> str:
        return self.base + path

    async def post_file(self, route: str, data: bytes, filename: str, content_type: str) -> tuple[int, dict]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        async with self.http.post(self.url(route), data=form) as response:
            return response.status, await response.json()

    async def get_json(self, path: str) -> tuple[int, dict]:
        async with self.http.get(self.url(path)) as response:
            return response.status, await response.json()

    async def get_bytes(self, path: str) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
        async with self.http.get(self.url(path)) as response:
            return response.status, await response.read(), response.headers

    def files_left(self) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file()]


@contextlib.asynccontextmanager
async def serving(settings, estimator_factory: Callable[[], object] | None = None, middlewares=()) -> AsyncIterator[Server]:
    app = web.Application(middlewares=list(middlewares))
    add_upload_routes(app, settings, estimator_factory or (lambda: make_estimator(settings)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as http:
            yield Server(f"http://{host}:{port}", http, app[UPLOADS])
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module", autouse=True)
def servers_own_port() -> Iterator[None]:
    """A port in use, given as ``serve.address`` as the running server's own is: a photo or video run must not serve again."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        SERVER_ADDRESS.append(f"127.0.0.1:{taken.getsockname()[1]}")
        yield
        SERVER_ADDRESS.clear()


SERVER_ADDRESS: list[str] = []


def upload_settings(tmp_path: Path, model: Path, **uploads):
    folder = tmp_path / "uploads"
    folder.mkdir(exist_ok=True)
    return settings_for("synthetic", model, uploads={"folder": folder, **uploads}, serve={"address": SERVER_ADDRESS[0]})


async def until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


async def job_until(server: Server, job_id: str, states: tuple[str, ...], query: str = "") -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        status, body = await server.get_json(f"/api/jobs/{job_id}{query}")
        assert status == 200, body
        if body["state"] in states:
            return body
        assert time.monotonic() < deadline, f"job stuck in {body}"
        await asyncio.sleep(0.05)


def jpeg_bytes(width: int = 160, height: int = 120) -> bytes:
    ok, data = cv2.imencode(".jpg", pattern_frame(3, width, height))
    assert ok
    return data.tobytes()


class GatedEstimator:
    """The real model, but each prediction waits until one of its gates opens: a job stays 'running' meanwhile."""

    def __init__(self, settings, gate: threading.Event) -> None:
        self.inner = make_estimator(settings)
        self.gates = [gate]

    def estimate(self, frame):
        deadline = time.monotonic() + WAIT
        while not any(gate.is_set() for gate in self.gates) and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.inner.estimate(frame)


def test_photo_upload_gives_side_by_side_depth16_and_pointcloud(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx)

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", jpeg_bytes(), "../../My photo (1).jpg", "image/jpeg")
            assert status == 200, body
            assert (body["width"], body["height"]) == (160, 120)
            files = body["files"]
            assert {"side-by-side.png", "depth16.png", "cloud.ply"} <= set(files)

            status, data, _ = await server.get_bytes(files["side-by-side.png"])  # inline, as the page shows it
            side = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            assert status == 200 and side.dtype == np.uint8 and side.shape[0] == 120 and abs(side.shape[1] - 320) <= 1

            status, data, headers = await server.get_bytes(files["depth16.png"] + "?download=1")
            depth = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            assert status == 200 and depth.dtype == np.uint16 and depth.shape == (120, 160) and depth.max() > depth.min()
            assert headers["Content-Disposition"] == 'attachment; filename="My_photo_1-depth16.png"'

            status, data, _ = await server.get_bytes(files["cloud.ply"] + "?download=1")
            cloud = PlyData.read(io.BytesIO(data))
            assert status == 200 and 0 < cloud["vertex"].count <= 160 * 120

            # downloaded files are gone, from the server and the disk (once the server has sent the last byte);
            # the rest stay until their time is up
            await until(lambda: len(server.files_left()) == 2, "the downloaded files to be deleted")
            status, body, _ = await server.get_bytes(files["depth16.png"] + "?download=1")
            assert status == 404 and b"no longer here" in body
            left = sorted(p.name for p in server.files_left())
            assert left == ["depth16.png.json", "side-by-side.png"]  # the upload itself was removed after processing

    asyncio.run(scenario())


def test_not_an_image_or_video_is_refused_by_content_and_the_server_keeps_serving(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx)
    clip = make_video(tmp_path / "clip.mp4", 64, 48, 2, fps=10)

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", b"hello, I am text\n" * 100, "cat.png", "image/png")
            assert status == 415 and "not a picture" in body["error"]
            status, body = await server.post_file("/api/video", b"hello, I am text\n" * 100, "cat.mp4", "video/mp4")
            assert status == 415 and "not a video" in body["error"]
            status, body = await server.post_file("/api/photo", clip.read_bytes(), "clip.jpg", "image/jpeg")
            assert status == 415 and "not a picture" in body["error"]
            status, body = await server.post_file("/api/video", jpeg_bytes(), "photo.mp4", "video/mp4")
            assert status == 415 and "photo" in body["error"]
            status, body = await server.get_json("/api/jobs")
            assert status == 200 and body["max_mb"] == settings.uploads.max_mb
            assert server.files_left() == [] and list(server.root.iterdir()) == []
            assert server.uploads.estimator.loaded is False  # nothing refused ever reached the model

    asyncio.run(scenario())


def test_over_the_size_limit_is_413_and_leaves_no_file(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx, max_mb=0.25)
    big = jpeg_bytes() + os.urandom(400_000)  # a real JPEG header: only the size is wrong

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit must be enforced while reading
        yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        for start in range(0, len(big), 32_768):
            yield big[start:start + 32_768]
        yield b"\r\n--XyZ--\r\n"

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", big, "big.jpg", "image/jpeg")
            assert status == 413 and "0.25 MB" in body["error"]
            headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
            async with server.http.post(server.url("/api/video"), data=chunked(), headers=headers) as response:
                assert response.status == 413 and "limit" in (await response.json())["error"]
            assert list(server.root.iterdir()) == []
            status, body = await server.post_file("/api/photo", jpeg_bytes(), "small.jpg", "image/jpeg")
            assert status == 200  # the server goes on serving

    asyncio.run(scenario())


def test_client_that_disconnects_mid_upload_leaves_no_file_and_no_thread(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx)
    payload = jpeg_bytes() + os.urandom(1_200_000)
    head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'

    async def scenario() -> None:
        async with serving(settings) as server:
            threads_before = {t.name for t in threading.enumerate()}
            host, port = server.base.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            body_length = len(head) + len(payload) + len(b"\r\n--XyZ--\r\n")
            writer.write(b"POST /api/photo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                         + f"Content-Length: {body_length}\r\n\r\n".encode() + head + payload[: len(payload) // 2])
            await writer.drain()
            await until(lambda: any(p.name == "upload.part" and p.stat().st_size for p in server.files_left()),
                        "the upload to reach the disk")
            writer.close()  # half the body sent, then gone
            await until(lambda: list(server.root.iterdir()) == [], "the partial upload to be removed")
            assert {t.name for t in threading.enumerate()} <= threads_before
            assert server.uploads.photos_pending == 0
            status, _ = await server.get_json("/api/jobs")
            assert status == 200

    asyncio.run(scenario())


def test_video_job_keeps_every_frame_and_the_audio_then_is_deleted_after_download(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx)
    clip = make_video(tmp_path / "holiday.mp4", 160, 120, 12, fps=12, audio=True)

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/video", clip.read_bytes(), "holiday.mp4", "video/mp4")
            assert status == 202 and body["state"] in ("queued", "running") and body["frames_total"] == 12
            done = await job_until(server, body["id"], ("done", "failed"))
            assert done["state"] == "done" and done["progress"] == 1.0 and done["frames_done"] == 12, done
            assert done["download"] == "holiday-depth.mp4"
            status, data, headers = await server.get_bytes(done["url"] + "?download=1")
            assert status == 200 and 'filename="holiday-depth.mp4"' in headers["Content-Disposition"]
            (tmp_path / "got.mp4").write_bytes(data)
            frames, _, has_audio, _ = read_video(tmp_path / "got.mp4")
            assert len(frames) == 12 and has_audio and abs(frames[0].shape[1] - 320) <= 1
            await until(lambda: list(server.root.iterdir()) == [], "the downloaded job's folder to be deleted")
            status, body = await server.get_json(f"/api/jobs/{done['id']}")
            assert status == 404 and "deleted after their download" in body["error"]

    asyncio.run(scenario())


def test_second_video_waits_in_the_queue_with_position_one(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx, max_queued=1)
    clip = make_video(tmp_path / "a.mp4", 96, 64, 4, fps=10)
    gate = threading.Event()
    gated = GatedEstimator(settings, gate)

    async def scenario() -> None:
        async with serving(settings, lambda: gated) as server:
            try:
                status, first = await server.post_file("/api/video", clip.read_bytes(), "a.mp4", "video/mp4")
                assert status == 202
                await job_until(server, first["id"], ("running",))
                status, second = await server.post_file("/api/video", clip.read_bytes(), "b.mp4", "video/mp4")
                assert status == 202 and second["state"] == "queued" and second["position"] == 1
                status, body = await server.get_json(f"/api/jobs/{second['id']}")
                assert body["state"] == "queued" and body["position"] == 1
                status, body = await server.post_file("/api/video", clip.read_bytes(), "c.mp4", "video/mp4")
                assert status == 429 and "try again" in body["error"]  # max_queued=1: refused, nothing kept
                assert len(list(server.root.iterdir())) == 2
            finally:
                gate.set()
            for job in (first, second):
                done = await job_until(server, job["id"], ("done", "failed"))
                assert done["state"] == "done" and done["position"] == 0 and done["frames_done"] == 4

    asyncio.run(scenario())


def test_results_are_deleted_after_the_timeout(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx, keep_minutes=0.005)  # 0.3 s

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/photo", jpeg_bytes(), "p.jpg", "image/jpeg")
            assert status == 200
            await until(lambda: list(server.root.iterdir()) == [], "the results to expire")
            status, data, _ = await server.get_bytes(body["files"]["side-by-side.png"])
            assert status == 404 and b"0.005 minutes" in data

    asyncio.run(scenario())


def test_cleanup_stops_the_running_job_and_removes_every_file(tmp_path, random_onnx) -> None:
    settings = upload_settings(tmp_path, random_onnx)
    clip = make_video(tmp_path / "a.mp4", 96, 64, 4, fps=10)
    gated = GatedEstimator(settings, threading.Event())  # never opened by the test: only the job's stop event opens it
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with serving(settings, lambda: gated) as server:
            seen["root"] = server.root
            status, first = await server.post_file("/api/video", clip.read_bytes(), "a.mp4", "video/mp4")
            await job_until(server, first["id"], ("running",))
            job = seen["job"] = server.uploads.jobs.get(first["id"])
            gated.gates.append(job.stop)
            status, second = await server.post_file("/api/video", clip.read_bytes(), "b.mp4", "video/mp4")
            assert status == 202 and second["position"] == 1
            seen["waiting"] = server.uploads.jobs.get(second["id"])
            assert any(p.name == "input.video" for p in server.files_left())
        # leaving the block stops the server (runner.cleanup) while the first job runs and the second waits

    asyncio.run(scenario())
    assert not seen["root"].exists()
    assert [t.name for t in threading.enumerate() if t.name.startswith("depth-")] == []
    assert seen["job"].state.value == "stopped" and seen["waiting"].state.value == "stopped"


def test_a_metric_model_uploads_give_millimetres(tmp_path, random_onnx) -> None:
    """The page's photo uploads use the server's model: a metric one's 16-bit depth is in millimetres, its cloud in metres."""
    from tests.test_metres import INDOOR, MetricDepth, metres

    settings = upload_settings(tmp_path, random_onnx)

    async def scenario() -> None:
        async with serving(settings, lambda: MetricDepth()) as server:
            status, body = await server.post_file("/api/photo", jpeg_bytes(), "room.jpg", "image/jpeg")
            assert status == 200, body
            status, data, _ = await server.get_bytes(body["files"]["depth16.png"] + "?download=1")
            depth = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            assert status == 200 and depth.dtype == np.uint16
            np.testing.assert_allclose(depth, metres(160, 120, 0) * 1000, atol=1)  # millimetres, rounded
            status, data, _ = await server.get_bytes(body["files"]["cloud.ply"] + "?download=1")
            z = np.asarray(PlyData.read(io.BytesIO(data))["vertex"]["z"])
            assert status == 200 and z.min() > 0 and z.max() <= INDOOR.max_depth

    asyncio.run(scenario())


def test_every_job_is_listed_with_its_name_state_position_progress_and_download(tmp_path, random_onnx) -> None:
    """``GET /api/jobs`` lists what the page needs to show every upload again after a reload; with a token, only to its holders."""
    from stream.web.server import token_guard

    settings = upload_settings(tmp_path, random_onnx)
    clip = make_video(tmp_path / "a.mp4", 96, 64, 4, fps=10)
    gate = threading.Event()
    gated = GatedEstimator(settings, gate)

    async def scenario() -> None:
        async with serving(settings, lambda: gated, middlewares=[token_guard("s3cret")]) as server:
            try:
                status, first = await server.post_file("/api/video?token=s3cret", clip.read_bytes(), "Beach day.mp4", "video/mp4")
                assert status == 202
                await job_until(server, first["id"], ("running",), "?token=s3cret")
                status, second = await server.post_file("/api/video?token=s3cret", clip.read_bytes(), "b.mp4", "video/mp4")
                assert status == 202
                async with server.http.get(server.url("/api/jobs")) as response:
                    assert response.status == 401  # no token, no list
                status, body = await server.get_json("/api/jobs?token=s3cret")
                assert status == 200 and body["max_mb"] == settings.uploads.max_mb
                listed = [(j["id"], j["name"], j["state"], j["position"], j["url"]) for j in body["jobs"]]
                assert listed == [(first["id"], "Beach day.mp4", "running", 0, None), (second["id"], "b.mp4", "queued", 1, None)]
            finally:
                gate.set()
            for job in (first, second):
                await job_until(server, job["id"], ("done",), "?token=s3cret")
            status, body = await server.get_json("/api/jobs?token=s3cret")
            assert [(j["state"], j["progress"], j["download"]) for j in body["jobs"]] == [
                ("done", 1.0, "Beach_day-depth.mp4"), ("done", 1.0, "b-depth.mp4")]
            status, data, _ = await server.get_bytes(body["jobs"][0]["url"] + "?download=1&token=s3cret")
            assert status == 200 and data[4:8] == b"ftyp"

    asyncio.run(scenario())


def test_a_video_cut_short_is_refused_on_arrival_with_400(tmp_path, random_onnx) -> None:
    """Its index comes first (fast start), so it opens: the packets present are counted against the header on arrival."""
    settings = upload_settings(tmp_path, random_onnx)
    whole = make_video(tmp_path / "whole.mp4", 96, 64, 50, fps=10, container_options={"movflags": "faststart"})
    data = whole.read_bytes()

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/video", data[: len(data) // 2], "holiday.mp4", "video/mp4")
            assert status == 400 and "cut short" in body["error"] and "50 frames" in body["error"], body
            assert "upload the complete file" in body["error"]
            assert list(server.root.iterdir()) == [] and server.uploads.estimator.loaded is False
            status, body = await server.post_file("/api/video", data, "holiday.mp4", "video/mp4")
            assert status == 202, body  # the whole file is taken

    asyncio.run(scenario())


def test_damage_found_while_processing_names_the_users_file_and_offers_the_frames_before_it(tmp_path, random_onnx) -> None:
    """Garbage in the second half of the frames: the file opens and every packet is there, only decoding finds it."""
    settings = upload_settings(tmp_path, random_onnx)
    clip = make_video(tmp_path / "clip.mp4", 160, 120, 40, fps=10, container_options={"movflags": "faststart"})
    data = bytearray(clip.read_bytes())
    start = data.find(b"mdat") + (len(data) - data.find(b"mdat")) // 2
    data[start:] = np.random.default_rng(1).bytes(len(data) - start)

    async def scenario() -> None:
        async with serving(settings) as server:
            status, body = await server.post_file("/api/video", bytes(data), "My holiday.mp4", "video/mp4")
            assert status == 202, body
            failed = await job_until(server, body["id"], ("done", "failed"))
            error = failed["error"]
            assert failed["state"] == "failed" and error.startswith("My holiday.mp4: "), failed
            assert re.search(r"\d+ frames were damaged .*left out", error), error
            assert str(server.root) not in error and "input.video" not in error and "stage" not in error
            assert failed["partial"] is True and failed["download"] == "My_holiday-depth-partial.mp4"
            status, video, _ = await server.get_bytes(failed["url"] + "?download=1")
            assert status == 200
            (tmp_path / "partial.mp4").write_bytes(video)
            frames = read_video(tmp_path / "partial.mp4")[0]
            assert 0 < len(frames) < 40 and len(frames) == failed["frames_done"]

    asyncio.run(scenario())
