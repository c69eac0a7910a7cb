"""Probe points: read the depth at chosen source pixels, frame after frame.

A probe is a pixel of the SOURCE frame, so it means the same thing whatever size the
view is shown at (the side-by-side may be scaled to ``video.max_width``, the window to
the screen). The points cross threads: the window adds and clears them on the main
thread (mouse clicks, ``c``) while the display thread reads them in ``Pipeline.compose``;
``Probes`` guards them with one lock. The display thread also records the geometry of
the view it composed, so a click on either half maps back to the same source pixel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stream.core.errors import ConfigError
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo

MAX_PROBES = 8  # clicks beyond this replace the oldest point
Point = tuple[int, int]
Reading = tuple[float, float]  # (normalised 0..1, raw model value: metres for a metric model)


@dataclass(frozen=True)
class ViewGeometry:
    """How the composed view relates to the source frame: two halves of ``half`` size each."""

    source: tuple[int, int]  # width, height of the source frame
    half: tuple[int, int]  # width, height of each half of the view

    def to_source(self, x: int, y: int) -> Point | None:
        """The source pixel under view pixel (x, y), on either half; None outside the view."""
        (sw, sh), (hw, hh) = self.source, self.half
        if not (0 <= x < 2 * hw and 0 <= y < hh):
            return None
        local = x - hw if x >= hw else x
        return min(sw - 1, int((local + 0.5) * sw / hw)), min(sh - 1, int((y + 0.5) * sh / hh))

    def to_view(self, point: Point, right: bool = False) -> Point:
        """Where source pixel ``point`` is drawn in the left (picture) or right (depth) half."""
        (sw, sh), (hw, hh) = self.source, self.half
        x = min(hw - 1, int((point[0] + 0.5) * hw / sw))
        return x + (hw if right else 0), min(hh - 1, int((point[1] + 0.5) * hh / sh))


class Probes:
    """The probe points (source pixels), safe to change on one thread while another reads them."""

    def __init__(self, points: Iterable[Sequence[int]] = (), capacity: int = MAX_PROBES) -> None:
        self._lock = threading.Lock()
        self._points: list[Point] = [(int(p[0]), int(p[1])) for p in points]
        self.capacity = max(capacity, len(self._points))
        self._geometry: ViewGeometry | None = None

    def add(self, x: int, y: int) -> None:
        with self._lock:
            self._points.append((int(x), int(y)))
            del self._points[: max(0, len(self._points) - self.capacity)]

    def add_at_view(self, x: int, y: int) -> Point | None:
        """Add the source pixel under view pixel (x, y) (a click); None before a frame is shown or outside it."""
        with self._lock:
            geometry = self._geometry
        point = geometry.to_source(x, y) if geometry is not None else None
        if point is not None:
            self.add(*point)
        return point

    def clear(self) -> None:
        with self._lock:
            self._points.clear()

    def points(self) -> tuple[Point, ...]:
        with self._lock:
            return tuple(self._points)

    def set_geometry(self, geometry: ViewGeometry) -> None:
        with self._lock:
            self._geometry = geometry

    def __len__(self) -> int:
        with self._lock:
            return len(self._points)


def read_probes(depth: np.ndarray, index: np.ndarray, points: Sequence[Point]) -> list[Reading | None]:
    """(normalised, raw) at each point; None for a point outside this frame (its size changed)."""
    height, width = depth.shape[:2]
    return [(float(index[y, x]), float(depth[y, x])) if 0 <= x < width and 0 <= y < height else None
            for x, y in points]


def check_points_fit(points: Sequence[Sequence[int]], width: int, height: int) -> None:
    """Refuse a probe outside the source frame, once its size is known and before the model loads."""
    for x, y in points:
        if not (0 <= x < width and 0 <= y < height):
            raise ConfigError(f"--probe {x},{y} is outside the {width}x{height} source frame; "
                              f"give X in 0..{width - 1} and Y in 0..{height - 1} (source pixels)")


def probe_label(number: int, reading: Reading | None, model: ModelInfo = MIDAS_SMALL) -> str:
    """``1: 2.31 m`` for a metric model (the distance is what a user wants to read);
    ``1: 0.532  raw 41.25`` for a relative one: the 0..1 depth shown in colour and the model's value."""
    if reading is None:
        return f"{number}: outside this frame"
    if model.is_metric:
        return f"{number}: {metres_text(reading[1])}"
    return f"{number}: {reading[0]:.3f}  raw {reading[1]:.4g}"


def metres_text(metres: float) -> str:
    """``2.31 m`` (centimetres: finer than any monocular model is right)."""
    return f"{metres:.2f} m"


def annotate(view: np.ndarray, depth: np.ndarray, index: np.ndarray, probes: Probes,
             model: ModelInfo = MIDAS_SMALL) -> None:
    """Record the view's geometry for clicks, then draw each probe on both halves and its values, in place."""
    half = (view.shape[1] // 2, view.shape[0])
    geometry = ViewGeometry((depth.shape[1], depth.shape[0]), half)
    probes.set_geometry(geometry)
    points = probes.points()
    if not points:
        return
    readings = read_probes(depth, index, points)
    radius = max(3, round(half[1] / 80))
    for number, (point, reading) in enumerate(zip(points, readings), start=1):
        if reading is None:
            continue
        for left in (0, half[0]):  # each half drawn on its own, so a marker at an edge never spills over
            draw_marker(view[:, left:left + half[0]], geometry.to_view(point), radius, str(number))
    draw_panel(view, [probe_label(n, r, model) for n, r in enumerate(readings, start=1)], half[0])


def draw_marker(view: np.ndarray, at: Point, radius: int, label: str) -> None:
    """A ringed dot with its number beside it (on the left of it near the right edge), in place."""
    thickness = max(1, radius // 3)
    cv2.circle(view, at, radius + thickness, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.circle(view, at, radius, (255, 255, 255), thickness, cv2.LINE_AA)
    cv2.circle(view, at, max(1, thickness), (255, 255, 255), -1, cv2.LINE_AA)
    scale = max(0.35, radius / 8)
    (text_w, text_h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = at[0] + radius + 2 * thickness
    if x + text_w > view.shape[1]:
        x = at[0] - radius - 2 * thickness - text_w
    y = max(text_h, min(view.shape[0] - base, at[1] - radius))
    cv2.rectangle(view, (x - 1, y - text_h - 1), (x + text_w + 1, y + base), (0, 0, 0), -1)
    cv2.putText(view, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def draw_panel(view: np.ndarray, lines: Sequence[str], width: int) -> None:
    """The probes' values in the picture half's bottom-left corner, on a darkened panel like the status text.

    The text scales with the picture, as the status overlay does, and shrinks (down to a
    readable minimum) rather than vanish when many probes would cover the picture.
    """
    height = view.shape[0]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, height / 900)
    while True:
        thickness = max(1, round(scale * 1.2))
        sizes = [cv2.getTextSize(text, font, scale, thickness) for text in lines]
        margin = max(3, round(6 * scale))
        line_height = max(size[0][1] + size[1] for size in sizes) + margin
        panel_w = max(size[0][0] for size in sizes) + 2 * margin
        panel_h = line_height * len(lines) + margin
        if (panel_w <= width and panel_h <= height * 0.5) or scale <= 0.3:
            break
        scale = max(0.3, scale * 0.85)
    top, panel_w = max(0, height - panel_h), min(panel_w, width)
    panel = view[top:, :panel_w]
    panel[:] = cv2.convertScaleAbs(panel, alpha=0.4)  # darkened as the status panel is, without a uint16 copy
    descent = max(size[1] for size in sizes)
    for row, text in enumerate(lines):
        baseline = top + (row + 1) * line_height - descent
        cv2.putText(view[:, :width], text, (margin, baseline), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
