"""How the picture looks (colormap, normalisation, overlay), changeable while a run goes on.

The window and the video file fix these for the whole run, but the browser page changes
them live from the server's thread while the display thread composes frames. ``ViewSettings``
is the one place both meet: a lock around three values, read once per frame as a frozen
``View``, so a frame is always composed with one consistent set. ``LiveNormaliser`` follows
the normalisation named there, starting a fresh normaliser when it changes. Nothing here
knows about the web: any controller (a page, a test) just calls ``update``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from stream.core.frames import Normalised
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.view.normalize import Normaliser, make_normaliser
from stream.view.render import COLORMAPS

NORMALISE_MODES = ("stable", "frame", "fixed")


@dataclass(frozen=True)
class View:
    colormap: str = "inferno"
    normalize: str = "stable"
    overlay: bool = True


class ViewSettings:
    """The current ``View``, safe to change on one thread while another composes with it."""

    def __init__(self, view: View | None = None, value_range: tuple[float, float] | None = None) -> None:
        self._lock = threading.Lock()
        self._view = view or View()
        self.value_range = value_range  # what ``fixed`` maps to 0..1; without it, ``fixed`` is not offered

    def current(self) -> View:
        with self._lock:
            return self._view

    @property
    def modes(self) -> tuple[str, ...]:
        """The normalisation modes this run can switch to (``fixed`` needs ``display.range``)."""
        return tuple(mode for mode in NORMALISE_MODES if mode != "fixed" or self.value_range is not None)

    def update(self, colormap: str | None = None, normalize: str | None = None, overlay: bool | None = None) -> View:
        """Change any of the three; a bad value raises ``ValueError`` with a message a user can act on."""
        changes: dict[str, object] = {}
        if colormap is not None:
            name = str(colormap).strip().lower()
            if name not in COLORMAPS:
                raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
            changes["colormap"] = name
        if normalize is not None:
            if normalize not in self.modes:
                hint = " (fixed needs a range: start with --set display.range=[lo,hi])" if normalize == "fixed" else ""
                raise ValueError(f"normalisation {normalize!r} is not available; choose one of {', '.join(self.modes)}{hint}")
            changes["normalize"] = normalize
        if overlay is not None:
            changes["overlay"] = bool(overlay)
        with self._lock:
            self._view = replace(self._view, **changes)  # type: ignore[arg-type]
            return self._view


class LiveNormaliser:
    """A ``Normaliser`` that follows ``ViewSettings.normalize``: a changed mode starts afresh from the next frame.

    ``model``: whose depth it maps (a metric model's modes are ranges in metres, see ``make_normaliser``).
    """

    def __init__(self, settings: ViewSettings, model: ModelInfo = MIDAS_SMALL) -> None:
        self.settings = settings
        self.model = model
        self._mode: str | None = None
        self._inner: Normaliser | None = None

    def __call__(self, depth: np.ndarray) -> Normalised:
        mode = self.settings.current().normalize
        if self._inner is None or mode != self._mode:
            self._inner = make_normaliser(mode, self.settings.value_range, self.model)
            self._mode = mode
        return self._inner(depth)
