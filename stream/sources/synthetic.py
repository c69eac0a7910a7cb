"""A deterministic moving scene (textured gradient, moving discs): a camera for tests and demos.

It renders as fast as it is read; to play it like a camera, wrap it in ``PacedSource``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stream.core.errors import SourceError
from stream.core.frames import Closing, Frame
from stream.sources.base import DEFAULT_FPS, SourceInfo, SourceKind, frame_time_base


class SyntheticSource(Closing):
    """Frame ``i`` is always the same picture (``render(i)``), with pts ``i`` in ``1/fps``."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = DEFAULT_FPS, num_frames: int | None = None,
                 seed: int = 0) -> None:
        if width < 2 or height < 2 or fps <= 0:
            raise SourceError(f"bad synthetic source {width}x{height} @ {fps} fps; use e.g. synthetic:640x480")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.num_frames = num_frames
        self.index = 0
        rng = np.random.default_rng(seed)
        ys = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        xs = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        base = np.empty((self.height, self.width, 3), np.float32)
        base[..., 0] = 200 - 120 * ys + 20 * xs
        base[..., 1] = 120 + 60 * ys
        base[..., 2] = 60 + 150 * ys * ys
        texture = rng.normal(0, 6, (self.height, self.width, 1)).astype(np.float32)
        self._background = np.clip(base + texture, 0, 255).astype(np.uint8)
        self._discs = [
            (rng.uniform(0.0, 6.28), rng.uniform(0.25, 0.85), rng.uniform(0.05, 0.2), rng.uniform(0.5, 2.0),
             tuple(int(c) for c in rng.integers(30, 255, 3)))
            for _ in range(4)
        ]
        self.info = SourceInfo(self.width, self.height, self.fps, num_frames, frame_time_base(self.fps),
                               SourceKind.SYNTHETIC, f"synthetic {self.width}x{self.height}")

    def render(self, index: int) -> np.ndarray:
        """The picture for frame ``index`` (the same index always gives the same picture)."""
        image = self._background.copy()
        t = index / self.fps
        scale = min(self.width, self.height)
        for phase, cy, radius, speed, colour in self._discs:
            x = int(self.width * (0.5 + 0.4 * math.sin(speed * t + phase)))
            y = int(self.height * (cy + 0.05 * math.cos(speed * t)))
            cv2.circle(image, (x, y), max(2, int(radius * scale)), colour, -1, cv2.LINE_AA)
        return image

    def read(self) -> Frame | None:
        if self.num_frames is not None and self.index >= self.num_frames:
            return None
        frame = Frame(self.render(self.index), self.index, pts=self.index, time_base=self.info.time_base)
        self.index += 1
        return frame
