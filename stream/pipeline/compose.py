"""The display stage's picture: coloured depth beside the frame, the status overlay, probe markers.

Kept apart from the threads (``stream.pipeline.stages``) so the pipeline code holds no pixels and
this can be tried on one frame alone. It reads the run's counters for the overlay, and the
depth's own ``model`` for its unit: a metric model's overlay names the model and the metres
its colours span, and its probes read in metres.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.view.probe import Probes, annotate
from stream.view.render import compose_view, draw_overlay
from stream.view.settings import View, ViewSettings

if TYPE_CHECKING:
    from stream.pipeline.stats import PipelineOptions, PipelineStats


class ViewComposer:
    """RGB | coloured depth (at most ``max_width`` wide), with the status overlay and any probes."""

    def __init__(self, options: PipelineOptions, stats: PipelineStats, probes: Probes | None = None,
                 view: ViewSettings | None = None) -> None:
        self.options = options
        self.stats = stats
        self.probes = probes  # drawn into the picture, so the window and the output video agree
        # read once per frame: another thread (the browser page) may change it while the run goes on
        self.view = view or ViewSettings(View(options.colormap, "stable", options.overlay))

    def compose(self, item: DepthFrame, normalised: Normalised) -> np.ndarray:
        """The view for ``item``; stage times go to the run's counters."""
        look = self.view.current()
        view, timings = compose_view(item.frame.image, normalised.index, look.colormap, self.options.max_width)
        if look.overlay:
            t0 = time.perf_counter()
            draw_overlay(view, self.overlay_lines(item, normalised), width=view.shape[1] // 2)
            timings["compose"] += (time.perf_counter() - t0) * 1e3
        if self.probes is not None:
            t0 = time.perf_counter()
            annotate(view, item.depth, normalised.index, self.probes, item.model)
            timings["compose"] += (time.perf_counter() - t0) * 1e3
        for name, ms in timings.items():
            self.stats.stage_ms[name].append(ms)
        return view

    def overlay_lines(self, item: DepthFrame, normalised: Normalised | None = None) -> list[str]:
        """A metric model and its colours' metres; rates once they are known (a single picture has none);
        live: drops and latency; file: the frame number.

        In file mode every frame waits its turn in the queues, so its age says nothing about
        the app; which frame this is does. A relative model's colours have no unit to name,
        so its overlay is the counters alone.
        """
        capture, depth = self.stats.capture_rate.rate, self.stats.depth_rate.rate
        rates = "  ".join(f"{name} {rate:5.1f} fps" for name, rate in (("capture", capture), ("depth", depth))
                          if rate is not None)
        if self.options.live:
            latency = (time.monotonic() - item.frame.captured_at) * 1e3
            status = f"dropped {self.stats.dropped}  latency {latency:4.0f} ms"
        else:
            status = f"frame {item.frame.index + 1}" if self.options.frame_numbers else ""
        return [line for line in (model_line(item, normalised), rates, status) if line]


def model_line(item: DepthFrame, normalised: Normalised | None) -> str:
    """``depth-anything-v2-small-indoor  0-20 m``: the metric model and the metres from bright to dark ("" if relative)."""
    model = item.model
    if not model.is_metric:
        return ""
    if normalised is None:
        return f"{model.name}  (m)"
    near, far = (float(normalised.raw(end)) + 0.0 for end in (1.0, 0.0))  # + 0.0: no "-0"
    return f"{model.name}  {near:.3g}-{far:.3g} m"
