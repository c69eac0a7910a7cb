"""Depth to colour, side-by-side composition and the text overlay (pure functions)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np

from stream.view.normalize import PerFrame

COLORMAPS: dict[str, int | None] = {
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "gray": None,
}


def normalise_depth(depth: np.ndarray) -> np.ndarray:
    """Per-frame min-max to uint8 0..255 (relative depth has no absolute scale); flat -> 0.

    The ``frame`` normaliser's index in 8 bits, so the figures built on it (the benchmark's
    colour stage, the int8 accuracy) use the very mapping a ``--normalize frame`` run shows.
    """
    return index_grey(PerFrame()(depth).index)


def index_grey(index: np.ndarray) -> np.ndarray:
    """A 0..1 depth index as uint8 0..255, rounded."""
    return cv2.convertScaleAbs(index, alpha=255.0)


def colourise(depth: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """Inverse depth -> BGR image, each frame by its own range; near (large values) is bright."""
    return colour_grey(normalise_depth(depth), colormap)


def colour_index(index: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """A 0..1 depth index (``stream.view.normalize``) -> BGR image; 1 (near) is bright."""
    return colour_grey(index_grey(index), colormap)


def colour_grey(grey: np.ndarray, colormap: str) -> np.ndarray:
    code = COLORMAPS[colormap]
    if code is None:
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.applyColorMap(grey, code)


def side_by_side(frame_bgr: np.ndarray, depth_bgr: np.ndarray) -> np.ndarray:
    """RGB | depth at the input's own height; the depth image is resized if it differs."""
    height, width = frame_bgr.shape[:2]
    if depth_bgr.shape[:2] != (height, width):
        depth_bgr = cv2.resize(depth_bgr, (width, height), interpolation=cv2.INTER_LINEAR)
    canvas = np.empty((height, 2 * width, 3), np.uint8)
    canvas[:, :width] = frame_bgr
    canvas[:, width:] = depth_bgr
    return canvas


def half_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Size of each half so that the side-by-side is at most ``max_width`` wide, aspect kept, sides even."""
    if max_width is None or 2 * width <= max_width:
        return width, height
    scale = max_width / (2 * width)
    return max(2, int(width * scale) // 2 * 2), max(2, int(round(height * scale / 2)) * 2)


def compose_view(frame_bgr: np.ndarray, index: np.ndarray, colormap: str,
                 max_width: int | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Picture | coloured depth index (0..1, ``stream.view.normalize``), scaled down when wider than ``max_width``.

    A 4K source would give a 7680-pixel-wide video that many players refuse; scaling before
    colouring also keeps the per-frame work and memory of the display stage small. The
    depth itself was computed from the full frame. Returns the view and stage times (ms).
    """
    t0 = time.perf_counter()
    height, width = frame_bgr.shape[:2]
    size = half_size(width, height, max_width)
    if size != (width, height):
        frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        index = cv2.resize(index, size, interpolation=cv2.INTER_AREA)
    coloured = colour_index(index, colormap)
    t1 = time.perf_counter()
    view = side_by_side(frame_bgr, coloured)
    t2 = time.perf_counter()
    return view, {"colourise": (t1 - t0) * 1e3, "compose": (t2 - t1) * 1e3}


def draw_overlay(image: np.ndarray, lines: Sequence[str], width: int | None = None) -> np.ndarray:
    """Write status lines in the top-left corner of the first ``width`` columns, in place.

    The text scales with the picture (readable at 2160p) and is left out when the picture
    is too small to hold it without covering most of it. It sits on a darkened panel
    rather than an outline: OpenCV's Hershey glyphs get wider with thickness, so a thick
    dark outline under thin white text drifts out of register and reads as ghosting.
    """
    lines = [line for line in lines if line]
    if not lines:
        return image
    height = image.shape[0]
    width = image.shape[1] if width is None else min(width, image.shape[1])
    scale = max(0.35, height / 900)
    thickness = max(1, round(scale * 1.2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(text, font, scale, thickness) for text in lines]
    margin = max(4, round(6 * scale))
    line_height = max(size[0][1] + size[1] for size in sizes) + margin
    panel_w = max(size[0][0] for size in sizes) + 2 * margin
    panel_h = line_height * len(lines) + margin
    if panel_w > width or panel_h > height * 0.4:
        return image  # a tiny picture: the numbers would hide it
    panel = image[:panel_h, :panel_w]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)
    descent = max(size[1] for size in sizes)
    for row, text in enumerate(lines):
        baseline = (row + 1) * line_height - descent
        cv2.putText(image, text, (margin, baseline), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return image
