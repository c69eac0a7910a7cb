"""What the page reads and changes while a run goes on, gathered in one object the handlers share.

The run's counters (``PipelineStats``) and source only exist once the source is open, after
the server has bound its port (a port in use costs no model load), so ``LiveState`` starts
without them and ``attach`` adds them. Probe readings come from a depth sink: the display
thread computes them with the depth at hand, the page reads the last ones.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream.core.modelinfo import ModelInfo
from stream.model.registry import MODELS
from stream.view.probe import Probes, read_probes
from stream.view.render import COLORMAPS
from stream.view.settings import ViewSettings
from stream.web.camera import BrowserFeed
from stream.web.relay import FrameRelay, Viewers

if TYPE_CHECKING:
    from stream.core.frames import DepthFrame, Normalised
    from stream.pipeline.stats import PipelineStats
    from stream.sources import SourceInfo

RECENT = 30  # the latency shown is the median of this many last frames: current, yet not jumpy


class ProbeReadings:
    """A depth sink: the depth at each probe point of the newest frame, and the model it came from.

    Each row has ``norm`` (0..1 as coloured), ``raw`` (the model's value) and ``unit``: ``m``
    when ``raw`` is metres from the camera (a metric model), ``relative`` otherwise.
    """

    def __init__(self, probes: Probes) -> None:
        self.probes = probes
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self.model: ModelInfo | None = None  # known with the first frame (the server starts before the model loads)

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        points = self.probes.points()
        readings = read_probes(item.depth, normalised.index, points)
        unit = item.model.unit
        rows = [{"x": x, "y": y, "norm": None if r is None else round(r[0], 4), "raw": None if r is None else r[1], "unit": unit}
                for (x, y), r in zip(points, readings)]
        with self._lock:
            self._rows = rows
            self.model = item.model

    def rows(self) -> list[dict[str, Any]]:
        """The last readings, for the points still set (a cleared point disappears at once)."""
        current = set(self.probes.points())
        with self._lock:
            return [row for row in self._rows if (row["x"], row["y"]) in current]

    def close(self) -> None:
        pass


@dataclass
class LiveState:
    """Everything the live routes share: the relay, viewers, view controls, probes, the run's counters."""

    relay: FrameRelay
    viewers: Viewers
    view: ViewSettings
    probes: Probes
    feed: BrowserFeed | None = None  # set when the source is the page's webcam
    token: str | None = None
    readings: ProbeReadings = field(init=False)
    stats: PipelineStats | None = None
    source: SourceInfo | None = None
    running: bool = True

    def __post_init__(self) -> None:
        self.readings = ProbeReadings(self.probes)

    def attach(self, stats: PipelineStats, source: SourceInfo) -> None:
        self.stats, self.source = stats, source

    def status(self) -> dict[str, Any]:
        """The counters beside the picture, the controls' values and choices, the probes: one JSON object."""
        look = self.view.current()
        result: dict[str, Any] = {
            "running": self.running,
            "viewers": len(self.viewers),
            "max_viewers": self.viewers.limit,
            "frames_published": self.relay.published,
            "view": {"colormap": look.colormap, "normalize": look.normalize, "overlay": look.overlay},
            "choices": {"colormap": list(COLORMAPS), "normalize": list(self.view.modes)},
            "probes": self.readings.rows(),
            "browser_camera": self.feed is not None,
            "model": model_status(self.readings.model),
            "models": models_list(),
        }
        if self.source is not None:
            result["source"] = {"kind": self.source.kind.value, "description": self.source.description,
                                "width": self.source.width, "height": self.source.height}
        stats = self.stats
        if stats is not None:
            recent = list(itertools.islice(reversed(stats.latencies), RECENT))
            latency = statistics.median(recent) * 1e3 if recent else None
            result["counters"] = {
                "capture_fps": _finite(stats.capture_rate.rate), "depth_fps": _finite(stats.depth_rate.rate),
                "captured": stats.captured, "inferred": stats.inferred, "shown": stats.displayed,
                "dropped": stats.dropped, "latency_ms": _finite(latency),
            }
        return result


def model_status(model: ModelInfo | None) -> dict[str, Any] | None:
    """What the page says about the depth's numbers (None before the first frame), with its licence when registered."""
    if model is None:
        return None
    status: dict[str, Any] = {"name": model.name, "output": model.output, "unit": model.unit, "max_depth": model.max_depth,
                              "description": model.describe()}
    if model.name in MODELS:
        status["licence"] = MODELS.get(model.name).licence
    return status


def models_list() -> list[dict[str, str]]:
    """Every registered model, as ``--model-name`` lists them: the page shows which to start with for what."""
    return [{"name": name, "title": spec.title, "licence": spec.licence, "meaning": spec.meaning} for name, spec in MODELS.items()]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 1)
