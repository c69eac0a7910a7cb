"""Frames: a picture with its timestamp, its depth, and that depth as a 0..1 index.

A frame carries its own timestamp (``pts`` in ``time_base`` units, as PyAV gives it) from
source to sink so that the output keeps the source's timing (``stream.core.channels`` hands
frames between threads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from stream.core.modelinfo import MIDAS_SMALL, ModelInfo


@dataclass(frozen=True)
class Frame:
    """One decoded picture (BGR, uint8, H x W x 3) and where it sits in time.

    Frozen: a frame is shared by threads (capture, inference, display), so a stage that
    needs a different one makes a new frame (``dataclasses.replace``) instead of editing it.
    """

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None
    captured_at: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float | None:
        """Presentation time in seconds, if the source gave one."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class StageTimes:
    """One estimate's wall times per stage, in milliseconds."""

    preprocess: float = 0.0
    inference: float = 0.0
    upsample: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DepthFrame:
    """A frame with its depth map (float32, frame height x width), how long it took, and what its numbers are.

    ``model`` says what ``depth`` holds, as ``pts`` says when the frame is: relative inverse
    depth (MiDaS: larger = nearer, no unit) or metres from the camera (larger = farther). It
    travels with the depth so every sink (a 16-bit file, the probe CSV, a point cloud, the
    page) writes the right unit without being told separately.
    """

    frame: Frame
    depth: np.ndarray
    times: StageTimes = field(default_factory=StageTimes)
    inferred_at: float = field(default_factory=time.monotonic)
    model: ModelInfo = MIDAS_SMALL


@dataclass(frozen=True)
class Normalised:
    """Depth as a 0..1 index (1 = near), with the mapping back to the model's values.

    ``aligned = scale * raw + shift`` puts a frame on the run's common footing (1 and 0
    when frames are not aligned); ``index = (aligned - lo) / (hi - lo)``, clipped. Metres
    (a metric model, larger = farther) are mapped with ``scale = -1``, ``shift = 0``, so 1 is
    still near and ``raw`` still gives the model's values (metres) back.
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


class Closing:
    """Context-manager plumbing shared by every source and sink: ``with`` always closes.

    Subclasses override ``close`` (idempotent); the default has nothing to release.
    """

    def __enter__(self):
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass
