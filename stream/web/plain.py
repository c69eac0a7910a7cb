"""The page's picture without the overlay, for a narrow screen (a phone), composed only when one asks.

On a phone the side-by-side is a third of its size on a monitor and the overlay's text is
unreadable, while the page lists the same counters right below the picture. The composed
frame every sink gets keeps the overlay the controls ask for (a window, an output video,
the wide pages); a narrow page asks for "next plain" and gets the same frame composed
again without it (``stream.pipeline.compose.ViewComposer``, the one composer, with the
overlay switched off). Nothing is composed twice unless a narrow page is watching: the
relay calls ``PlainPicture.maker``'s function only when such a viewer wants the frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.pipeline.compose import ViewComposer
from stream.pipeline.stats import PipelineOptions, PipelineStats
from stream.view.probe import Probes
from stream.view.settings import View, ViewSettings


class WithoutOverlay(ViewSettings):
    """The page's controls as they are, the overlay always off."""

    def __init__(self, settings: ViewSettings) -> None:
        super().__init__(settings.current(), settings.value_range)
        self.settings = settings

    def current(self) -> View:
        return replace(self.settings.current(), overlay=False)


class PlainPicture:
    """A depth sink that keeps the newest frame's depth, to compose its picture without the overlay on demand."""

    def __init__(self, view: ViewSettings, probes: Probes, max_width: int | None) -> None:
        self.view = view
        # its own counters: a picture composed for a page is no stage of the run's
        self._composer = ViewComposer(PipelineOptions(live=True, max_width=max_width), PipelineStats(), probes,
                                      WithoutOverlay(view))
        self._last: tuple[DepthFrame, Normalised] | None = None

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        self._last = (item, normalised)

    def maker(self) -> Callable[[], np.ndarray] | None:
        """How to compose the frame being written now without its overlay; None when it has none."""
        last = self._last
        if last is None or not self.view.current().overlay:
            return None
        item, normalised = last
        return lambda: self._composer.compose(item, normalised)

    def close(self) -> None:
        pass
