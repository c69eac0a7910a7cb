"""The browser page as a frontend: the server, the page's camera, its sinks and controls.

The server binds in ``open``, before the source opens or the model loads (a port in use
costs one line). When the source *finishes*, the page keeps showing its last frame and
keeps taking uploads until the run is *cancelled* (Ctrl-C, SIGTERM, the caller).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack

from stream.config.settings import BROWSER_SOURCE, Settings
from stream.core.protocols import Estimator
from stream.pipeline.stats import PipelineStats
from stream.runtime.frontend import Frontend, Parts
from stream.sources.base import Source, SourceInfo
from stream.view.probe import Probes
from stream.web.server import LiveWeb, WebServer, serve_live

log = logging.getLogger(__name__)


class WebFrontend(Frontend):
    """``--serve``: ``on_serve`` is called with the server once it listens (tests learn its port)."""

    shows_photo_folders = True

    def __init__(self, on_serve: Callable[[WebServer], None] | None = None) -> None:
        self.on_serve = on_serve
        self.web: LiveWeb | None = None

    def open(self, settings: Settings, stack: ExitStack, cancel: threading.Event,
             make_estimator: Callable[[], Estimator]) -> None:
        self.web = stack.enter_context(serve_live(settings, Probes(settings.probe.points), make_estimator, self.on_serve))

    def open_source(self, settings: Settings, halt: threading.Event) -> Source | None:
        if settings.source != BROWSER_SOURCE:
            return None
        assert self.web is not None
        return self.web.camera_source(settings, halt)

    def parts(self, settings: Settings, photo: bool) -> Parts:
        assert self.web is not None
        web = self.web
        # no normaliser: the runtime makes one for the run's model that follows ``view`` (the page's controls)
        return Parts(sinks=[web.sink], depth_sinks=[web.state.readings, web.plain], probes=web.state.probes, view=web.view)

    def started(self, stats: PipelineStats, info: SourceInfo) -> None:
        assert self.web is not None
        self.web.attach(stats, info)

    def after_source(self, cancel: threading.Event) -> None:
        """Keep serving the last frame (and uploads) until Ctrl-C / SIGTERM / the caller cancels."""
        assert self.web is not None
        log.info("the source has ended; still serving its last frame at %s (Ctrl-C to stop)", self.web.server.url)
        cancel.wait()
