"""The uploads' own depth model: made on first use, one estimate at a time.

Photos and video jobs run in different threads but share one estimator (loading the model
twice would double its memory). Engines are not all safe to call from two threads at once
(OpenVINO reuses one infer request per input shape), so estimates take turns under a lock;
a photo sent while a video is processed waits for one frame, not for the video. Each
estimate carries its own timings, so nothing here is per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from stream.core.modelinfo import ModelInfo, model_info_of
from stream.core.protocols import DepthResult, Estimator


class SharedEstimator:
    """An ``Estimator`` built lazily by ``make`` (once, whichever thread asks first), used under a lock."""

    def __init__(self, make: Callable[[], Estimator]) -> None:
        self._make = make
        self._inner: Estimator | None = None
        self._make_lock = threading.Lock()
        self._estimate_lock = threading.Lock()

    def load(self) -> Estimator:
        """The model, made now if this is the first use (a model error reaches the caller)."""
        with self._make_lock:
            if self._inner is None:
                self._inner = self._make()
            return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    @property
    def info(self) -> ModelInfo:
        """What the depth is (relative, or metres): the model's own, so the page's exports say it too."""
        return model_info_of(self.load())

    def estimate(self, image: np.ndarray) -> DepthResult:
        inner = self.load()
        with self._estimate_lock:
            return inner.estimate(image)
