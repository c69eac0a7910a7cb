"""From the model's relative depth to the 0..1 index that colours and depth files show.

MiDaS gives relative inverse depth, known only up to a scale and a shift that change from
frame to frame; mapping each frame by its own min and max (what its peers do) makes the
colours pump on video. Every way of mapping is a ``Normaliser``; each returns a
``Normalised`` that also says how to get the model's raw values back (``raw``), which the
depth exports write into their sidecar so nothing is lost by normalising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Normalised:
    """Depth as a 0..1 index (1 = near), with the mapping back to the model's values.

    ``aligned = scale * raw + shift`` puts a frame on the run's common footing (1 and 0
    when frames are not aligned); ``index = (aligned - lo) / (hi - lo)``, clipped.
    """

    index: np.ndarray
    lo: float
    hi: float
    scale: float = 1.0
    shift: float = 0.0

    def raw(self, index: np.ndarray | float) -> np.ndarray | float:
        """Model values for index values (exact inside the [lo, hi] range, clipped outside it)."""
        aligned = self.lo + np.asarray(index, np.float64) * (self.hi - self.lo)
        return (aligned - self.shift) / self.scale

    def sidecar(self) -> dict[str, float]:
        """The numbers a depth file needs beside it to recover raw values."""
        return {"lo": self.lo, "hi": self.hi, "scale": self.scale, "shift": self.shift}


class Normaliser(Protocol):
    """Maps one frame's depth to ``Normalised``; may keep state across the frames of a run."""

    def __call__(self, depth: np.ndarray) -> Normalised: ...


def to_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` mapped so ``lo`` -> 0 and ``hi`` -> 1, clipped, float32; a flat range gives zeros."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(values.shape[:2], np.float32)
    index = (values.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return np.clip(index, 0.0, 1.0, out=index)


class PerFrame:
    """Each frame by its own min and max: what MiDaS's run.py does; flickers on video."""

    def __call__(self, depth: np.ndarray) -> Normalised:
        lo, hi = float(np.min(depth)), float(np.max(depth))
        return Normalised(to_index(depth, lo, hi), lo, hi)


def make_normaliser(kind: str = "frame") -> Normaliser:
    """The normaliser named by ``display.normalize``."""
    if kind == "frame":
        return PerFrame()
    raise ValueError(f"unknown normalisation {kind!r}")
