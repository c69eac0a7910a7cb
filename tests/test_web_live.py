"""The browser page's server, over real HTTP on 127.0.0.1: the page, frames, counters, controls, limits, TLS.

Each test runs the real app (``stream.runtime.run.run`` with ``--serve 127.0.0.1:0``) on the
synthetic source played live; depth comes from a stand-in estimator (the picture's grey
level) so a test costs a second or two and the pictures are predictable.
"""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from stream.cli.main import build_parser, overrides_from
from stream.config.settings import load_settings
from stream.core.errors import ConfigError
from stream.core.protocols import DepthResult
from stream.launch import main
from stream.runtime.result import RunResult
from stream.runtime.run import run
from stream.web.frontend import WebFrontend
from stream.web.handlers import STATE
from stream.web.server import ServeError, WebServer

DEADLINE_S = 10.0


class GreyDepth:
    """Depth = the picture's grey level: instant, and the depth half follows the picture."""

    def estimate(self, frame_bgr: np.ndarray) -> DepthResult:
        return DepthResult(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32))


class App:
    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.base = server.url.replace("localhost", "127.0.0.1")
        self.port = server.port

    @property
    def state(self) -> Any:
        return self.server.app[STATE]

    def get(self, path: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes, Any]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=DEADLINE_S, context=context) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status(self) -> dict[str, Any]:
        code, body, _ = self.get("api/status")
        assert code == 200, body
        return json.loads(body)


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@contextmanager
def serving(source: str = "synthetic:160x120", first_frames: bool = True, estimator: Any = None, **serve: Any) -> Iterator[App]:
    """The app serving on a free port of 127.0.0.1 (``estimator``: GreyDepth's); stopped (as by Ctrl-C) and checked on exit."""
    overrides = {"source": source, "mode": "live", "capture": {"fps": 30, "width": 160, "height": 120}, "display": {"progress": False},
                 "serve": {"address": "127.0.0.1:0", **serve}}
    settings = load_settings(None, overrides)
    stop, ready = threading.Event(), queue.Queue()
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["result"] = run(settings, estimator or GreyDepth(), stop, frontend=WebFrontend(on_serve=ready.put))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc
            ready.put(None)

    thread = threading.Thread(target=body, name="test-app")
    thread.start()
    server = ready.get(timeout=DEADLINE_S)
    try:
        if server is None:
            raise outcome["error"]
        app = App(server)
        if first_frames:
            wait_for(lambda: app.state.relay.published >= 2, "the first frames")
        yield app
    finally:
        stop.set()
        thread.join(DEADLINE_S)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    result: RunResult = outcome["result"]
    assert result.exit_code == 0


class Mjpeg:
    """A viewer of /stream.mjpg on a plain socket (HTTP/1.0: no chunking), reading parts when asked."""

    def __init__(self, app: App, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(DEADLINE_S)
        self.sock.connect(("127.0.0.1", app.port))
        self.sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        self.stream: Any = None

    def parts(self, count: int) -> list[bytes]:
        if self.stream is None:
            self.stream = self.sock.makefile("rb")
            status = self.stream.readline()
            assert b" 200 " in status, status
            while self.stream.readline() not in (b"\r\n", b""):
                pass
        found = []
        while len(found) < count:
            line = self.stream.readline()
            if not line.startswith(b"Content-Length:"):
                continue
            length = int(line.split(b":")[1])
            self.stream.readline()
            found.append(self.stream.read(length))
        return found

    def __enter__(self) -> Mjpeg:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.stream is not None:
            self.stream.close()
        self.sock.close()


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return image


async def ws_frames(url: str, count: int) -> list[bytes]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        frames = []
        for _ in range(count):
            await ws.send_str("next")
            message = await ws.receive(timeout=DEADLINE_S)
            assert message.type == aiohttp.WSMsgType.BINARY, message
            frames.append(message.data)
        return frames


def test_page_stream_and_counters() -> None:
    with serving() as app:
        code, page, headers = app.get("")
        assert code == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<section id="uploads"></section>' in page and b'src="static/uploads.js"' in page
        assert app.get("static/live.js")[0] == 200 and app.get("static/style.css")[0] == 200
        with Mjpeg(app) as sock:
            parts = [decode(part) for part in sock.parts(3)]
        assert all(part.shape == (120, 320, 3) for part in parts)
        frames = [decode(jpeg) for jpeg in asyncio.run(ws_frames(app.base.replace("http", "ws") + "ws/live", 3))]
        assert all(frame.shape == (120, 320, 3) for frame in frames)
        assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.5  # live: the discs moved
        wait_for(lambda: app.status()["counters"]["depth_fps"], "depth fps")
        status = app.status()
        counters = status["counters"]
        assert counters["capture_fps"] > 0 and counters["latency_ms"] >= 0 and counters["dropped"] >= 0
        assert status["source"] == {"kind": "synthetic", "description": "synthetic 160x120", "width": 160, "height": 120}

        async def camera_refused() -> dict[str, Any]:
            async with aiohttp.ClientSession() as session, session.ws_connect(app.base.replace("http", "ws") + "ws/camera") as ws:
                return await ws.receive_json(timeout=DEADLINE_S)

        assert "--source browser" in asyncio.run(camera_refused())["error"]


def test_controls_change_what_is_composed() -> None:
    with serving() as app:
        def depth_half() -> np.ndarray:
            return decode(app.get("api/snapshot.png")[1])[:, 160:].astype(int)

        assert np.abs(depth_half()[..., 0] - depth_half()[..., 2]).mean() > 10  # inferno: not grey
        assert app.post("api/view", {"colormap": "gray", "overlay": False})[0] == 200
        wait_for(lambda: np.abs(depth_half()[..., 0] - depth_half()[..., 2]).max() == 0, "grey depth")
        code, body = app.post("api/view", {"colormap": "rainbow"})
        assert code == 400 and b"unknown colormap 'rainbow'" in body
        code, body = app.post("api/view", {"normalize": "fixed"})
        assert code == 400 and b"display.range" in body
        assert app.post("api/view", {"normalize": "frame"})[0] == 200
        assert app.status()["view"] == {"colormap": "gray", "normalize": "frame", "overlay": False}
        # a click on the depth half probes the same source pixel as on the picture half
        code, body = app.post("api/probe", {"x": 160 + 40, "y": 30})
        assert code == 200 and json.loads(body)["point"] == [40, 30]
        probes = wait_for(lambda: app.status()["probes"], "a probe reading")
        assert probes[0]["x"] == 40 and 0.0 <= probes[0]["norm"] <= 1.0
        assert app.post("api/probe", {"x": 999, "y": 5})[0] == 409
        assert app.post("api/probes/clear", {})[0] == 200 and app.status()["probes"] == []
        code, png, headers = app.get("api/snapshot.png")
        assert headers["Content-Disposition"].startswith("attachment") and decode(png).shape == (120, 320, 3)


def test_token_and_network_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="stream")
    with serving(token="s3cret", address="0.0.0.0:0") as app:
        assert "anyone who can reach this machine" in caplog.text and "?token=s3cret" in caplog.text
        code, body, _ = app.get("")
        assert code == 401 and b"token" in body
        assert app.get("api/status?token=wrong")[0] == 401
        assert app.get("?token=s3cret")[0] == 200 and app.get("api/status?token=s3cret")[0] == 200
        assert app.get("static/live.js")[0] == 200  # scripts carry no secret

        async def refused() -> int:
            async with aiohttp.ClientSession() as session:
                try:
                    await session.ws_connect(app.base.replace("http", "ws") + "ws/live")
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status
            return 200

        assert asyncio.run(refused()) == 401
        assert len(asyncio.run(ws_frames(app.base.replace("http", "ws") + "ws/live?token=s3cret", 1))) == 1


def test_viewer_cap_says_why() -> None:
    with serving(max_viewers=1) as app, Mjpeg(app) as first:
        first.parts(1)
        code, body, _ = app.get("stream.mjpg")
        assert code == 503 and b"too many viewers" in body and b"serve.max_viewers" in body

        async def websocket_refusal() -> dict[str, Any]:
            async with aiohttp.ClientSession() as session, session.ws_connect(app.base.replace("http", "ws") + "ws/live") as ws:
                return await ws.receive_json(timeout=DEADLINE_S)

        assert "too many viewers" in asyncio.run(websocket_refusal())["error"]


def test_stalled_viewer_slows_nobody() -> None:
    """A viewer whose socket never reads gets stuck alone; the others and the pipeline keep their counts."""
    with serving("synthetic:640x480", max_viewers=4) as app, Mjpeg(app, receive_buffer=4096) as _stalled:
        wait_for(lambda: len(app.state.viewers) == 1, "the stalled viewer")
        stats = app.state.stats
        with Mjpeg(app) as a, Mjpeg(app) as b:
            a.parts(40), b.parts(40)  # meanwhile the stalled viewer's socket buffers fill up
            stuck_at = min(app.state.viewers.sent_counts())
            published0, captured0, shown0 = app.state.relay.published, stats.captured, stats.displayed
            got = [len(a.parts(30)), len(b.parts(30))]
            published = app.state.relay.published - published0
            captured, shown = stats.captured - captured0, stats.displayed - shown0
            stalled_sent = min(app.state.viewers.sent_counts()) - stuck_at
    assert got == [30, 30]
    assert published <= 30 + 10  # the healthy viewers saw nearly every frame the pipeline made meanwhile
    assert shown >= 0.6 * captured  # the pipeline kept up with its source (drops only where inference lagged)
    assert stalled_sent <= 1  # while the stalled viewer got nothing


def test_disconnect_leaves_no_task() -> None:
    with serving() as app:
        baseline = app.server.task_count()
        with Mjpeg(app) as sock:
            sock.parts(2)

        async def leave_mid_stream() -> None:
            session = aiohttp.ClientSession()
            ws = await session.ws_connect(app.base.replace("http", "ws") + "ws/live")
            await ws.send_str("next")
            await ws.receive(timeout=DEADLINE_S)
            await ws.send_str("next")  # ... and vanish without closing the socket properly
            ws._response.connection.transport.abort()  # type: ignore[union-attr]
            await session.close()

        asyncio.run(leave_mid_stream())
        wait_for(lambda: len(app.state.viewers) == 0 and app.server.task_count() <= baseline, "viewers' tasks to end")
    # and the autouse fixture checks no depth-* thread outlives the run


def test_browser_camera_source() -> None:
    """``--source browser``: JPEGs sent over /ws/camera, each answered, come back as the live picture and its depth."""
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:, :160] = (0, 0, 255)  # left half red, right half white; the server brings it to 160x120
    picture[:, 160:] = (255, 255, 255)
    jpeg = cv2.imencode(".jpg", picture)[1].tobytes()
    with serving("browser", first_frames=False) as app:
        base = app.base.replace("http", "ws")

        async def send_and_watch() -> tuple[list[dict[str, Any]], dict[str, Any], list[bytes]]:
            async with aiohttp.ClientSession() as session, session.ws_connect(base + "ws/camera") as camera:
                answers = []
                for _ in range(4):
                    await camera.send_bytes(jpeg)  # the next only once this one is answered: one in flight
                    answers.append(await camera.receive_json(timeout=DEADLINE_S))
                await camera.send_bytes(b"not a picture")
                bad = await camera.receive_json(timeout=DEADLINE_S)
            return answers, bad, await ws_frames(base + "ws/live", 1)

        answers, bad, frames = asyncio.run(send_and_watch())
        status = app.status()
    assert answers == [{"ack": True}] * 4
    assert "could not decode" in bad["note"]
    view = decode(frames[0]).astype(int)
    assert view.shape == (120, 320, 3) and status["source"]["kind"] == "browser" and status["camera"]["received"] == 5
    assert np.abs(view[100, 20] - (0, 0, 255)).max() < 40 and np.abs(view[100, 140] - 255).max() < 40
    assert view[100, 160 + 140].sum() != view[100, 160 + 20].sum()  # the depth half follows the sent picture


def test_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["--source", "synthetic", "--serve", f"127.0.0.1:{port}", "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "port is in use" in err


def test_serve_flag_and_config() -> None:
    parse = build_parser().parse_args
    assert overrides_from(parse(["--serve"]))["serve"]["address"] == "127.0.0.1:8080"
    assert load_settings(None, overrides_from(parse(["--serve", "9000"]))).serve.address == "127.0.0.1:9000"
    assert load_settings(None, {"serve": {"address": "[::1]:80"}}).serve.address == "[::1]:80"
    with pytest.raises(ConfigError, match="expected \\[HOST:\\]PORT"):
        load_settings(None, overrides_from(parse(["--serve", "here"])))
    with pytest.raises(ConfigError, match="--serve"):
        run(load_settings(None, {"source": "browser", "headless": True}), GreyDepth())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed (it makes the test certificate)")
def test_https_with_a_self_signed_certificate(tmp_path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with serving(cert=str(cert), key=str(key)) as app:
        assert app.base.startswith("https://")
        trusting = ssl.create_default_context(cafile=str(cert))
        code, body, _ = app.get("api/status", context=trusting)
        assert code == 200 and json.loads(body)["running"] is True
        with pytest.raises(urllib.error.URLError):
            app.get("api/status", context=ssl.create_default_context())  # an unknown certificate is refused
    with pytest.raises(ServeError, match="TLS certificate"), serving(cert=str(key), key=str(cert)):
        pass
    with pytest.raises(ServeError, match="go together"), serving(cert=str(cert)):
        pass
