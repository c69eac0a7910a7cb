"""Timing helpers every benchmark shares: per-call wall times, their median, an engine's bare speed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_ms(samples: list[float]) -> float:
    return float(statistics.median(samples)) if samples else float("nan")


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    """Per-call wall times in ms, after a few warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def standalone_fps(estimator, frame: np.ndarray, repeats: int) -> float:
    tensor = estimator.preprocess(frame)
    return 1e3 / median_ms(time_calls(lambda: estimator.infer(tensor), repeats, warmup=3))
