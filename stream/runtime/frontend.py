"""What a frontend adds to a run, through one small interface the runtime calls.

The runtime assembles a run from settings (source, model, outputs, pipeline) and knows no
frontend: the window, the web page and any future one plug in by subclassing ``Frontend``
and overriding what they need. A headless run uses ``Frontend()`` itself: every hook does
nothing. In the order the runtime calls them:

1. ``open``: before the source opens or the model loads, claim what can fail cheaply (a
   port, a display), so a mistake costs no work. Anything to release goes on ``stack``.
2. ``open_source``: a source only this frontend can give (the page's camera), or None.
3. ``parts``: the sinks, depth sinks, probes, normaliser and live view settings it adds.
4. ``started``: the pipeline's counters and the source's facts, once it runs.
5. ``foreground``: what the main thread does while the workers run (the window's loop).
6. ``after_source``: the source has *finished* (not been cancelled): a page keeps serving
   the last frame until ``cancel`` is set; a window has nothing left to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from stream.config.settings import Settings
from stream.core.protocols import DepthSink, Estimator, FrameSink
from stream.pipeline.stats import PipelineStats
from stream.sources.base import Source, SourceInfo
from stream.view.normalize import Normaliser
from stream.view.probe import Probes
from stream.view.settings import ViewSettings


@dataclass
class Parts:
    """What a frontend adds to the pipeline of one run."""

    sinks: list[FrameSink] = field(default_factory=list)
    depth_sinks: list[DepthSink] = field(default_factory=list)
    probes: Probes | None = None
    normaliser: Normaliser | None = None  # None: the one ``display.normalize`` names (following ``view`` if given)
    view: ViewSettings | None = None  # live-changeable colours and overlay (the page's controls)


class Frontend:
    """A headless run's frontend (every hook does nothing); the window and the page override the hooks they need."""

    #: whether each photo of a folder is shown (the page shows them; a window would stop at each)
    shows_photo_folders = False

    @property
    def replaced(self) -> int:
        """Frames a newer one replaced before the frontend could show them (the summary says so)."""
        return 0

    def open(self, settings: Settings, stack: ExitStack, cancel: threading.Event,
             make_estimator: Callable[[], Estimator]) -> None:
        """Claim what can fail cheaply; ``make_estimator`` builds a model of the frontend's own (uploads)."""

    def open_source(self, settings: Settings, halt: threading.Event) -> Source | None:
        """A source for a ``--source`` only this frontend knows (None: the runtime opens it)."""
        return None

    def parts(self, settings: Settings, photo: bool) -> Parts:
        return Parts()

    def started(self, stats: PipelineStats, info: SourceInfo) -> None:
        """The run's counters and the source's facts, for a frontend that shows them."""

    @property
    def has_foreground(self) -> bool:
        return False

    def foreground(self, running: Callable[[], bool], cancel: threading.Event, keep_open: bool) -> None:
        """Run on the calling (main) thread while the workers run; return once ``running()`` is false."""

    def after_source(self, cancel: threading.Event) -> None:
        """The source finished; return when this frontend is done too (at once, by default)."""
