"""The web server: the aiohttp application, TLS, the token, and its own thread beside the pipeline's.

aiohttp gives, in one well-kept library, the HTTP server, WebSockets, streaming uploads and
TLS through a plain ``ssl.SSLContext``: no separate ASGI server to run or configure. Its
event loop runs in a ``depth-web`` thread, so the main thread keeps the pipeline and the
signal handling it already has (Ctrl-C sets the run's stop event; ``serve_live`` stops
the server on the way out). The port is bound before the source opens or the model loads,
so a port in use costs nothing but a one-line error.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from stream.config.address import is_loopback, parse_address
from stream.config.settings import BROWSER_SOURCE, Settings
from stream.core.errors import InputError
from stream.view.probe import Probes
from stream.view.settings import View, ViewSettings
from stream.web.camera import BrowserFeed, BrowserSource
from stream.web.handlers import add_live_routes
from stream.web.live import LiveState
from stream.web.plain import PlainPicture
from stream.web.relay import FrameRelay, RelaySink, Viewers

if TYPE_CHECKING:
    from stream.core.protocols import Estimator
    from stream.pipeline.stats import PipelineStats
    from stream.sources import SourceInfo

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
SHUTDOWN_TIMEOUT = 1.0  # open connections (a stalled viewer) get this long once the server stops
UNGUARDED = ("/static/",)  # the page's scripts and styles: no secret, and <script src> cannot carry the token
T = TypeVar("T")


class ServeError(InputError):
    """The server cannot start as asked (port in use, bad certificate): exit 2."""


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server TLS context from PEM files, or None for plain HTTP; a bad pair is one line."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ServeError("--serve-cert and --serve-key go together: give both PEM files (README 'Browser' shows how to make them)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise ServeError(f"TLS file not found: {exc.filename or cert}; check --serve-cert and --serve-key") from None
    except (ssl.SSLError, OSError) as exc:
        raise ServeError(f"cannot use {cert} and {key} as a TLS certificate and its key ({_reason(exc)}); "
                         f"give a PEM certificate and its matching private key") from None
    return context


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)


def token_guard(token: str) -> Any:
    """Every request but the static files must carry ``?token=...`` equal to ``--serve-token``."""
    expected = token.encode()

    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not request.path.startswith(UNGUARDED):
            given = request.query.get("token", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=401, text="this server needs its token: open the URL printed at startup "
                                                     "(it ends in ?token=...), as set by --serve-token")
        return await handler(request)

    return guard


def make_app(state: LiveState, settings: Settings, make_estimator: Callable[[], Estimator]) -> web.Application:
    """The whole application: the live routes, and the upload routes beside them.

    ``make_estimator`` makes a model of its own for uploads (never the live pipeline's),
    lazily, the first time an upload needs one.
    """
    from stream.web.uploads import add_upload_routes

    app = web.Application(middlewares=[token_guard(state.token)] if state.token else [])
    add_live_routes(app, state)
    add_upload_routes(app, settings, make_estimator)
    return app


class WebServer:
    """Runs ``app`` on its own event loop in a ``depth-web`` thread; ``start`` returns once it listens."""

    def __init__(self, app: web.Application, host: str, port: int, tls: ssl.SSLContext | None, relay: FrameRelay) -> None:
        self.app, self.host, self.port, self.tls, self.relay = app, host, port, tls, relay
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: ServeError | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="depth-web", daemon=True)

    @property
    def url(self) -> str:
        """Where to point a browser (a wildcard host is shown as this machine's name)."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise ServeError(f"the web server did not start within {START_TIMEOUT:.0f} s")
        if self.error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise self.error

    def _run(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
            loop.run_until_complete(loop.shutdown_default_executor())
        except Exception as exc:  # reported to the thread that called start
            if not self._ready.is_set():
                self.error = ServeError(f"the web server failed to start: {type(exc).__name__}: {exc}")
            log.debug("web server failed", exc_info=exc)
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self.relay.attach(asyncio.get_running_loop())
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self.host, self.port, ssl_context=self.tls).start()
            except OSError as exc:
                self.error = ServeError(bind_message(self.host, self.port, exc))
                return
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            self.relay.close()
            await runner.cleanup()

    def stop(self) -> None:
        """Close every connection and end the thread (within ``STOP_TIMEOUT``)."""
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass  # already closed
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            log.warning("the web server did not stop within %.0f s (abandoned)", STOP_TIMEOUT)

    def call(self, work: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
        """Run a coroutine on the server's loop from another thread (tests, the benchmark)."""
        assert self.loop is not None

        async def wrapped() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def task_count(self) -> int:
        """Tasks alive on the server's loop, besides the server's own and this question's."""
        async def count() -> int:
            return len(asyncio.all_tasks()) - 2

        return self.call(count)


def bind_message(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot serve on {where}: the port is in use (another server?); stop it or choose another port, "
                f"e.g. --serve {host}:{port + 1 if port else 8081}")
    if exc.errno == errno.EACCES:
        return f"cannot serve on {where}: ports below 1024 need root; choose one above 1023, e.g. --serve {host}:8080"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot serve on {where}: {host} is not an address of this machine; use 127.0.0.1 (this machine) or 0.0.0.0 (all)"
    return f"cannot serve on {where}: {exc.strerror or exc}; choose another --serve HOST:PORT"


@dataclass
class LiveWeb:
    """What the app wires into its run: the relay sink, the probe readings, the live view settings."""

    state: LiveState
    server: WebServer
    sink: RelaySink
    plain: PlainPicture  # a depth sink: the picture without overlay for narrow pages

    @property
    def view(self) -> ViewSettings:
        return self.state.view

    def attach(self, stats: PipelineStats, source: SourceInfo) -> None:
        self.state.attach(stats, source)

    def camera_source(self, settings: Settings, stop: threading.Event) -> BrowserSource:
        if self.state.feed is None:
            raise ServeError("--source browser needs the page's camera feed")
        capture = settings.capture
        return BrowserSource(self.state.feed, capture.width or 640, capture.height or 480, capture.fps, stop,
                             settings.images.max_pixels)


@contextmanager
def serve_live(settings: Settings, probes: Probes, make_estimator: Callable[[], Estimator],
               on_serve: Callable[[WebServer], None] | None = None) -> Iterator[LiveWeb]:
    """Bind and start the server for this run (raises ``ServeError`` first if it cannot); stop it on exit."""
    serve, display = settings.serve, settings.display
    assert serve.address is not None
    host, port = parse_address(serve.address)
    tls = tls_context(serve.cert, serve.key)
    view = ViewSettings(View(display.colormap, display.normalize, display.overlay), display.range)
    relay = FrameRelay(serve.jpeg_quality)
    feed = BrowserFeed() if settings.source == BROWSER_SOURCE else None
    state = LiveState(relay, Viewers(serve.max_viewers), view, probes, feed, serve.token)
    server = WebServer(make_app(state, settings, make_estimator), host, port, tls, relay)
    server.start()
    try:
        announce(server, serve.token)
        if on_serve is not None:
            on_serve(server)
        plain = PlainPicture(view, probes, settings.video.max_width)
        yield LiveWeb(state, server, RelaySink(relay, plain), plain)
    finally:
        state.running = False
        server.stop()


def announce(server: WebServer, token: str | None) -> None:
    """The startup line: the URL to open; off loopback, a warning that the whole network can use it."""
    url = server.url + (f"?token={token}" if token else "")
    log.info("serving the live view at %s (Ctrl-C to stop)", url)
    if not is_loopback(server.host):
        guard = "" if token else " set --serve-token,"
        secure = "" if server.tls else " use --serve-cert/--serve-key (HTTPS),"
        log.warning("warning: listening on %s: anyone who can reach this machine can see and use the camera;%s%s "
                    "or serve on 127.0.0.1 and use an SSH tunnel (README 'Browser')", server.host, guard, secure)
