"""From the model's depth to the 0..1 index that colours (and relative 16-bit depth files) show.

MiDaS gives relative inverse depth, known only up to a scale and a shift that change from
frame to frame; mapping each frame by its own min and max (what its peers do) makes the
colours pump on video. Every way of mapping is a ``Normaliser``; each returns a
``Normalised`` that also says how to get the model's raw values back (``raw``), which the
depth exports write into their sidecar so nothing is lost by normalising.

A metric model gives metres, which need no aligning: by default (``stable``, and ``fixed``)
its colours are one range in metres for the whole run and every run (``Metres``: 0 to the
model's ``max_depth``, or ``display.range``), so a distance keeps its colour; ``frame``
stretches each frame's own nearest..farthest metres over the colours. Near is bright either way.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from stream.core.frames import Normalised
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo


class Normaliser(Protocol):
    """Maps one frame's depth to ``Normalised``; may keep state across the frames of a run."""

    def __call__(self, depth: np.ndarray) -> Normalised: ...


def affine_index(values: np.ndarray, a: float, b: float) -> np.ndarray:
    """``a * values + b`` as float32, clipped to 0..1, NaN as 0 (far): the one full-frame pass.

    OpenCV's fused multiply-add and numpy's clip are each a single vectorised pass (numpy's
    fmax/fmin, which would map NaN for free, are 4x slower); the NaN check is one sum.
    """
    index = cv2.addWeighted(values, a, values, 0.0, b, dtype=cv2.CV_32F)
    np.clip(index, 0.0, 1.0, out=index)
    if not np.isfinite(index.sum(dtype=np.float32)):
        np.nan_to_num(index, copy=False, nan=0.0)
    return index


def percentiles(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Two nearest-rank percentiles with one partial sort (``np.percentile`` costs 4x more)."""
    n = values.size
    ranks = [int(round(q / 100.0 * (n - 1))) for q in (low, high)]
    parted = np.partition(values, ranks)
    return float(parted[ranks[0]]), float(parted[ranks[1]])


def to_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` mapped so ``lo`` -> 0 and ``hi`` -> 1, clipped, float32; a flat range gives zeros."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(values.shape[:2], np.float32)
    return affine_index(values, 1.0 / (hi - lo), -lo / (hi - lo))


def finite_range(depth: np.ndarray) -> tuple[float, float]:
    """Min and max, ignoring NaN and infinities (the fast path when there are none); (0, 0) if none is finite."""
    lo, hi = float(np.min(depth)), float(np.max(depth))
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    finite = depth[np.isfinite(depth)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


class PerFrame:
    """Each frame by its own min and max: what MiDaS's run.py does; flickers on video."""

    def __call__(self, depth: np.ndarray) -> Normalised:
        lo, hi = finite_range(depth)
        return Normalised(to_index(depth, lo, hi), lo, hi)


class Fixed:
    """One range for the whole run, in model units (``display.range``): colours mean the same values throughout."""

    def __init__(self, lo: float, hi: float) -> None:
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"a fixed range needs finite lo < hi, got [{lo}, {hi}]")
        self.lo, self.hi = float(lo), float(hi)

    def __call__(self, depth: np.ndarray) -> Normalised:
        return Normalised(to_index(depth, self.lo, self.hi), self.lo, self.hi)


# stable: tuned on the synthetic MiDaS-like clips of stream/flicker.py (see the benchmark)
SAMPLE_POINTS = 4096  # about this many grid points are fitted, whatever the frame size
RANGE_PERCENTILES = (2.0, 98.0)  # a small near object or a few wild pixels do not move the range
RANGE_EMA = 0.1  # per frame: the range follows a real change in about 10 frames without pumping
REFERENCE_EMA = 0.1  # per frame: the reference follows slow change (a pan, a person walking in)
LEVEL_EMA = 0.1  # per frame: the running level of the misfit share
MISFIT = 0.03  # a grid point is off the fit when its residual exceeds this fraction of the range
CUT_RATIO = 3.0  # a misfit share this many times its running level is a scene cut ...
CUT_FLOOR = 0.2  # ... if at least this share (a near object or a pan stays well below; a new scene above)
MIN_POINTS = 16


def grid_step(shape: tuple[int, ...]) -> int:
    """Every n-th pixel in both directions, n chosen so about ``SAMPLE_POINTS`` are sampled."""
    return max(1, int(np.sqrt(shape[0] * shape[1] / SAMPLE_POINTS)))


def robust_fit(x: np.ndarray, r: np.ndarray, passes: int = 1) -> tuple[float, float, np.ndarray] | None:
    """Least-squares ``r ~ scale * x + shift``, refitted ``passes`` times without the outliers.

    Returns scale, shift and every point's absolute residual (how well the frame matches
    the reference); None when ``x`` is flat (no scale can be fitted). Outliers (a near
    object that is not in the reference, occlusions) are the points beyond 3 robust
    standard deviations of the previous fit.
    """
    keep: np.ndarray | slice = slice(None)
    for attempt in range(passes + 1):
        xs, rs = x[keep], r[keep]
        if xs.size < MIN_POINTS:
            return None
        mx, mr = float(xs.mean()), float(rs.mean())
        dx = xs - mx
        variance = float(dx @ dx)
        if variance <= 1e-12 * xs.size * (mx * mx + 1e-30):
            return None
        scale = float(dx @ (rs - mr)) / variance
        shift = mr - scale * mx
        residual = np.abs(scale * x + shift - r)
        if attempt < passes:
            keep = residual <= 3.0 * 1.4826 * float(np.median(residual)) + 1e-12 * abs(mr)
    return (scale, shift, residual) if scale != 0.0 else None


class Stable:
    """Colours that keep their meaning over a run: each frame aligned to a running reference.

    MiDaS's output is right only up to a scale and shift that change every frame. Each frame
    is fitted (``robust_fit``) to a reference kept on a sparse grid, so ``scale * raw + shift``
    is on a common footing; the 2nd-98th percentile range of that is smoothed over time and
    the reference follows the aligned frames slowly. A frame of which a far larger share than
    usual does not fit is a new scene: everything starts again from it, so a cut costs no more than a frame.
    """

    def __init__(self, cut_ratio: float = CUT_RATIO, cut_floor: float = CUT_FLOOR) -> None:
        self.cut_ratio, self.cut_floor = cut_ratio, cut_floor
        self.reference: np.ndarray | None = None  # aligned values on the grid
        self.scale, self.shift, self.lo, self.hi = 1.0, 0.0, 0.0, 0.0
        self.level: float | None = None
        self.resets = 0  # scene starts (the first frame counts)

    def __call__(self, depth: np.ndarray) -> Normalised:
        step = grid_step(depth.shape)
        sample = depth[::step, ::step].ravel().astype(np.float64)
        if self.reference is None or self.reference.shape != sample.shape:
            self.start(sample)
        else:
            self.follow(sample)
        return self.output(depth)

    def start(self, sample: np.ndarray) -> None:
        """A new scene: its own 2nd-98th percentile range becomes 0..1 of the common footing."""
        finite = sample[np.isfinite(sample)]
        if finite.size < MIN_POINTS:
            return
        p_lo, p_hi = percentiles(finite, *RANGE_PERCENTILES)
        if p_hi - p_lo <= 1e-9 * max(1.0, abs(p_hi)):
            return  # flat: nothing to anchor to yet; ``output`` shows it as one colour
        self.scale = 1.0 / (p_hi - p_lo)
        self.shift = -p_lo * self.scale
        self.reference = self.scale * sample + self.shift
        self.lo, self.hi, self.level = 0.0, 1.0, None
        self.resets += 1

    def follow(self, sample: np.ndarray) -> None:
        """Fit to the reference; on a cut start again, else move range and reference a little."""
        assert self.reference is not None
        usable = np.isfinite(sample) & np.isfinite(self.reference)
        if np.count_nonzero(usable) < MIN_POINTS:
            return
        fit = robust_fit(sample[usable], self.reference[usable])
        if fit is None:
            return  # a flat frame: keep the last mapping
        scale, shift, residual = fit
        misfit = float(np.mean(residual > MISFIT * (self.hi - self.lo)))
        threshold = self.cut_floor if self.level is None else max(self.cut_ratio * self.level, self.cut_floor)
        if scale <= 0 or misfit > threshold:
            self.start(sample)
            return
        self.scale, self.shift = scale, shift
        self.level = misfit if self.level is None else self.level + LEVEL_EMA * (misfit - self.level)
        aligned = scale * sample + shift
        p_lo, p_hi = percentiles(aligned if usable.all() else aligned[np.isfinite(aligned)], *RANGE_PERCENTILES)
        self.lo += RANGE_EMA * (p_lo - self.lo)
        self.hi += RANGE_EMA * (p_hi - self.hi)
        if usable.all():
            self.reference += REFERENCE_EMA * (aligned - self.reference)
        else:
            self.reference = np.where(usable, self.reference + REFERENCE_EMA * (aligned - self.reference),
                                      np.where(np.isfinite(self.reference), self.reference, aligned))

    def output(self, depth: np.ndarray) -> Normalised:
        """The index for the current mapping; before any scene is anchored, one colour (exact ``raw``)."""
        if self.reference is None or self.hi - self.lo <= 1e-12:
            lo, hi = finite_range(depth)
            level = 0.5 * (lo + hi)
            return Normalised(np.zeros(depth.shape[:2], np.float32), level, level)
        span = self.hi - self.lo
        index = affine_index(depth, self.scale / span, (self.shift - self.lo) / span)
        return Normalised(index, self.lo, self.hi, self.scale, self.shift)


def metres_index(depth: np.ndarray, near: float, far: float) -> Normalised:
    """Metres mapped so ``near`` -> 1 and ``far`` -> 0 (near bright), clipped; NaN as 0 (far).

    Written as ``aligned = -metres`` (``scale = -1``) over ``[-far, -near]``, so ``raw`` gives
    metres back and a 16-bit or sidecar reader needs no special case. A flat range: one colour.
    """
    if not (np.isfinite(near) and np.isfinite(far)) or far - near < 1e-12:
        return Normalised(np.zeros(depth.shape[:2], np.float32), -far, -far, -1.0, 0.0)
    return Normalised(affine_index(depth, -1.0 / (far - near), far / (far - near)), -far, -near, -1.0, 0.0)


class Metres:
    """A metric model's colours: one range in metres for the whole run, ``near`` brightest, ``far`` and beyond darkest.

    The same distance has the same colour in every frame and every run (with the same
    range), whatever else is in the picture: what a depth camera's colour map does.
    """

    def __init__(self, near: float, far: float) -> None:
        if not (np.isfinite(near) and np.isfinite(far) and near < far):
            raise ValueError(f"a range in metres needs finite near < far, got [{near}, {far}]")
        self.near, self.far = float(near), float(far)

    def __call__(self, depth: np.ndarray) -> Normalised:
        return metres_index(depth, self.near, self.far)


class MetresPerFrame:
    """``frame`` for a metric model: each frame's nearest..farthest metres over the colours (detail, not constancy)."""

    def __call__(self, depth: np.ndarray) -> Normalised:
        near, far = finite_range(depth)
        return metres_index(depth, near, far)


def make_normaliser(kind: str = "stable", value_range: tuple[float, float] | None = None,
                    model: ModelInfo = MIDAS_SMALL) -> Normaliser:
    """The normaliser named by ``display.normalize`` (``value_range``: ``display.range``) for ``model``'s output.

    Relative models: ``stable`` aligns frames, ``frame`` is each frame's min-max, ``fixed`` is
    ``value_range`` in model units. Metric models: ``stable`` and ``fixed`` are one range in
    metres, ``value_range`` if given else 0 to the model's ``max_depth``; ``frame`` is each
    frame's own range in metres.
    """
    if model.is_metric:
        return metric_normaliser(kind, value_range, model)
    if kind == "frame":
        return PerFrame()
    if kind == "stable":
        return Stable()
    if kind == "fixed":
        if value_range is None:
            raise ValueError("normalize 'fixed' needs a value range [lo, hi]")
        return Fixed(*value_range)
    raise ValueError(f"unknown normalisation {kind!r}")


def metric_normaliser(kind: str, value_range: tuple[float, float] | None, model: ModelInfo) -> Normaliser:
    """``make_normaliser`` for a metric model (see there)."""
    if kind == "frame":
        return MetresPerFrame()
    if kind in ("stable", "fixed"):
        assert model.max_depth is not None  # a metric ModelInfo always has one
        return Metres(*(value_range or (0.0, model.max_depth)))
    raise ValueError(f"unknown normalisation {kind!r}")
