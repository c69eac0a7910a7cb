"""The uploads' own depth model: made on first use, one prediction at a time.

Photos and video jobs run in different threads but share one estimator (loading the model
twice would double its memory). Engines are not all safe to call from two threads at once
(OpenVINO reuses one infer request per input shape), so predictions take turns under a
lock; a photo sent while a video is processed waits for one frame, not for the video.
``times`` is kept per thread, so each pipeline reads the stage times of its own call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from stream.engines.estimators import StageTimes
from stream.pipeline.stages import Estimator


class SharedEstimator:
    """An ``Estimator`` built lazily by ``make`` (once, whichever thread asks first), used under a lock."""

    def __init__(self, make: Callable[[], Estimator]) -> None:
        self._make = make
        self._inner: Estimator | None = None
        self._make_lock = threading.Lock()
        self._predict_lock = threading.Lock()
        self._local = threading.local()

    def load(self) -> Estimator:
        """The model, made now if this is the first use (a model error reaches the caller)."""
        with self._make_lock:
            if self._inner is None:
                self._inner = self._make()
            return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        inner = self.load()
        with self._predict_lock:
            depth = inner.predict(frame_bgr)
            times = inner.times
            self._local.times = StageTimes(times.preprocess, times.inference, times.upsample, dict(times.extra))
        return depth

    @property
    def times(self) -> StageTimes:
        return getattr(self._local, "times", None) or StageTimes()

    @times.setter
    def times(self, value: StageTimes) -> None:
        self._local.times = value
