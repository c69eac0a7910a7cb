"""Depth to colour, side-by-side composition and the text overlay (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

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
    """Per-frame min-max to uint8 0..255 (relative depth has no absolute scale); flat -> 0."""
    lo, hi = float(np.min(depth)), float(np.max(depth))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(depth.shape[:2], np.uint8)
    return cv2.convertScaleAbs(depth, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))


def colourise(depth: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """Inverse depth -> BGR image; near (large values) is bright."""
    grey = normalise_depth(depth)
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


def draw_overlay(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Write status lines in the top-left corner, in place, on a darkened panel.

    A panel rather than an outline: OpenCV's Hershey glyphs get wider with thickness, so a
    thick dark outline under thin white text drifts out of register and reads as ghosting.
    """
    if not lines:
        return image
    height, width = image.shape[:2]
    scale = max(0.35, min(0.6, height / 800))
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(text, font, scale, 1) for text in lines]
    line_height = max(size[0][1] + size[1] for size in sizes) + 6
    margin = 6
    panel_w = min(width, max(size[0][0] for size in sizes) + 2 * margin)
    panel_h = min(height, line_height * len(lines) + margin)
    panel = image[:panel_h, :panel_w]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)
    descent = max(size[1] for size in sizes)
    for row, text in enumerate(lines):
        baseline = margin + (row + 1) * line_height - descent - 3
        cv2.putText(image, text, (margin, baseline), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image
