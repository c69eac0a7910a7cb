"""The public Python API: depth for one picture, or a stream of depth results from any source.

For code that wants the depth itself rather than a window or a video file: a robot's
control loop, an AR prototype, a notebook. ``load_estimator`` builds the same engine the
app would (the same download, export and engine choice); ``DepthStream`` runs the app's
pipeline (capture, inference and display threads, live or file mode) and hands each
result to the caller's ``for`` loop instead of a window.

``ENGINES``, ``SOURCES`` and ``DEPTH_FORMATS`` are the registries where things vary: register
an ``Engine``, a ``SourceKindEntry`` or a ``DepthFormat`` there and the app, its settings and
its command line take it (README "Architecture").

Nothing here installs signal handlers or needs the main thread, so it works in notebooks,
in worker threads and inside other applications. Stage timings come back inside each
``DepthResult`` (``times``), never as state on the estimator, so one estimator can be shared
by several threads.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stream.config.settings import Settings, deep_merge, load_settings, set_dotted
from stream.core.channels import ChannelClosed, FrameChannel
from stream.core.errors import StageError
from stream.core.frames import DepthFrame, Normalised
from stream.core.modelinfo import ModelInfo, model_info_of
from stream.core.protocols import DepthResult, Estimator
from stream.engines import check_choice
from stream.engines.registry import ENGINES, Engine
from stream.export.registry import DEPTH_FORMATS, DepthFormat
from stream.pipeline.mode import decide
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineStats
from stream.runtime import estimators
from stream.runtime.frontend import Frontend
from stream.runtime.outputs import pipeline_options
from stream.runtime.single import open_configured_source, played
from stream.sinks import NullSink
from stream.sources import Source, SourceInfo, SourceKind
from stream.sources.registry import SOURCES, SourceKindEntry
from stream.view.normalize import make_normaliser

__all__ = ["DEPTH_FORMATS", "ENGINES", "SOURCES", "CheckedEstimator", "DepthFormat", "DepthResult", "DepthStream", "Engine",
           "SourceKindEntry", "check_image", "estimate", "load_estimator"]

POLL_SECONDS = 0.05
CACHED_ESTIMATORS = 4  # estimate()'s loaded models, one per distinct set of arguments


# -- one picture ---------------------------------------------------------------------------------------------------
def check_image(image: Any) -> None:
    """Refuse anything but an H x W x 3 uint8 BGR picture, with a message naming the fix."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected an H x W x 3 uint8 BGR numpy array, got {type(image).__name__}; "
                         "read pictures with cv2.imread(path) (or np.asarray(pil_image)[..., ::-1] from PIL, which is RGB)")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise ValueError(f"expected an H x W x 3 BGR image, got a single-channel one of shape {image.shape}; "
                         "convert it with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)")
    if image.ndim == 3 and image.shape[2] == 4:
        raise ValueError(f"expected an H x W x 3 BGR image, got 4 channels (shape {image.shape}); "
                         "drop the alpha channel with cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 BGR image, got shape {image.shape}; pass one picture "
                         "(a batch? call estimate once per picture)")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels (0..255), got {image.dtype}; convert with "
                         "np.clip(image * 255, 0, 255).astype(np.uint8) if its values are 0..1, else image.astype(np.uint8)")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"the image is empty (shape {image.shape}); check that it was read (cv2.imread returns None on failure)")


class CheckedEstimator:
    """An engine behind the input check: what ``load_estimator`` returns.

    Stateless besides the engine it wraps, so it may be shared by threads like the engine.
    Other attributes (``engine``, ``precision``, ``model_path``) are the engine's.
    """

    def __init__(self, wrapped: Estimator) -> None:
        self.wrapped = wrapped

    @property
    def info(self) -> ModelInfo:
        """What ``depth`` holds: ``info.is_metric`` (metres from the camera) or relative inverse depth; ``info.describe()``."""
        return model_info_of(self.wrapped)

    def estimate(self, image: np.ndarray) -> DepthResult:
        """H x W x 3 uint8 BGR picture (OpenCV's channel order, as ``cv2.imread`` gives) -> ``DepthResult``.

        ``depth`` is float32 H x W at the picture's size: the model's raw output (for MiDaS and
        Depth Anything V2 Small, relative inverse depth: larger = nearer, no unit; for a metric
        model, ``info.is_metric``, metres from the camera: larger = farther). ``times`` holds the
        stage timings of this call in milliseconds.
        """
        check_image(image)
        return self.wrapped.estimate(image)

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        engine = getattr(self.wrapped, "engine", type(self.wrapped).__name__)
        precision = getattr(self.wrapped, "precision", "?")
        return f"<CheckedEstimator {engine} {precision} {getattr(self.wrapped, 'model_path', '')}>"


def model_overrides(model: str | Path | None, weights: str | Path | None, engine: str, precision: str,
                    threads: int, model_name: str | None = None) -> dict[str, Any]:
    """The ``model`` section for these arguments (defaults left out, so a ``model.*`` key given otherwise stays)."""
    section: dict[str, Any] = {}
    if model_name is not None:
        section["name"] = model_name
    if engine != "auto":
        section["engine"] = engine
    if precision != "auto":
        section["precision"] = precision
    if threads != 0:
        section["threads"] = threads
    if model is not None:
        section["onnx"] = Path(model)
    if weights is not None:
        section["weights"] = Path(weights)
    return {"model": section}


def load_estimator(model: str | Path | None = None, weights: str | Path | None = None, engine: str = "auto",
                   precision: str = "auto", threads: int = 0, *, model_name: str | None = None) -> CheckedEstimator:
    """Load a depth model the way the app does and return an estimator for single pictures.

    ``model_name``: a registered model (``midas-small``, the default; ``depth-anything-v2-small``;
    the metric ``depth-anything-v2-small-indoor`` / ``-outdoor``, whose depth is in metres).
    ``model``: an ONNX depth model to run (torch is not imported; a file we exported says which
    model it is); ``weights``: a local checkpoint of ``model_name``, exported to ONNX once and
    cached; neither: the official weights, downloaded and verified once into the cache
    (``$DEPTH_STREAM_CACHE``). ``engine`` ``auto``,
    ``onnxruntime``, ``openvino`` or another in ``ENGINES``; ``precision`` ``auto``, ``fp32``, ``bf16`` or ``int8`` (``auto``
    measures the engines once per machine and remembers the choice); ``threads`` 0 = one per core.

    The returned object's ``estimate(image)`` takes an H x W x 3 uint8 **BGR** picture (OpenCV's
    convention) and returns a ``DepthResult`` whose ``depth`` is float32 H x W at the picture's
    size. It keeps no per-call state: threads may share it. Its ``info`` (``ModelInfo``) says
    what the depth is: relative inverse depth, or metres (``info.is_metric``).
    """
    settings = load_settings(None, model_overrides(model, weights, engine, precision, threads, model_name))
    check_choice(settings.model.engine, settings.model.precision)
    return CheckedEstimator(estimators.make_estimator(settings))


_loaded: dict[tuple[Any, ...], CheckedEstimator] = {}
_loaded_lock = threading.Lock()


def estimate(image: np.ndarray, model: str | Path | None = None, *, weights: str | Path | None = None,
             engine: str = "auto", precision: str = "auto", threads: int = 0, model_name: str | None = None) -> DepthResult:
    """Depth for one H x W x 3 uint8 BGR picture, in one call (see ``load_estimator`` for the arguments).

    The estimator is loaded on the first call and kept for later calls with the same
    arguments (the few most recent sets), so calling this in a loop does not reload the model.
    """
    check_image(image)  # before any model loads
    key = (None if model is None else str(Path(model).resolve()), None if weights is None else str(Path(weights).resolve()),
           engine, precision, threads, model_name)
    with _loaded_lock:
        estimator = _loaded.pop(key, None)
        if estimator is None:
            estimator = load_estimator(model, weights, engine, precision, threads, model_name=model_name)
        _loaded[key] = estimator  # most recently used last
        while len(_loaded) > CACHED_ESTIMATORS:
            del _loaded[next(iter(_loaded))]
    return estimator.estimate(image)


# -- a stream ------------------------------------------------------------------------------------------------------
class _ResultSink:
    """The pipeline's depth sink: each frame's ``DepthResult`` goes into the channel the iterator reads."""

    def __init__(self, channel: FrameChannel[DepthResult], halt: threading.Event, fps: float) -> None:
        self.channel = channel
        self.halt = halt
        self.fps = fps if fps > 0 else 1.0

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        frame = item.frame
        seconds = frame.seconds
        pts = float(seconds) if seconds is not None else frame.index / self.fps
        result = DepthResult(item.depth, item.times, frame.image, frame.index, pts, normalised.index)
        # file mode: waits for the caller to take one (every frame, in order); live mode: replaces the unread one
        self.channel.put(result, self.halt)

    def close(self) -> None:
        self.channel.close()  # the iterator drains what is left, then stops


def stream_overrides(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``max_frames=10``, ``capture={"fps": 30}`` and ``**{"capture.fps": 30}`` as one nested dict."""
    nested: dict[str, Any] = {}
    for key, value in settings.items():
        nested = deep_merge(nested, set_dotted({}, key, value) if "." in key else {key: value})
    return nested


class DepthStream:
    """Depth for every frame of a source, as an iterator of ``DepthResult`` in a ``with`` block.

    ``source``: anything ``--source`` takes: a video file (``str`` or ``Path``), a webcam index
    (``0`` or ``"0"``), a URL, an image sequence, a photo, ``"synthetic:320x240"``. ``mode``:
    ``auto`` (live sources live, recorded ones every frame), ``live`` or ``file`` (README
    "Modes"). ``model_name``, ``model``, ``weights``, ``engine``, ``precision``, ``threads``: as for
    ``load_estimator``; or ``estimator=`` to reuse one already loaded. Any other keyword is a
    config key, nested or dotted: ``max_frames=100``, ``capture={"fps": 30}``,
    ``**{"display.normalize": "frame"}``.

    Each result has ``frame`` (the BGR picture), ``depth`` (float32, raw model output at the
    frame's size: metres from the camera for a metric model, see ``model``), ``index`` (0-based
    frame number), ``pts`` (seconds), ``normalized`` (the 0..1 view of the depth, stable over
    time; 1 = near; for a metric model one fixed range of metres, ``1 - metres / max_depth``
    by default) and ``times`` (stage milliseconds). ``model`` (a ``ModelInfo``) says what the
    depth is: ``model.is_metric``, ``model.max_depth``, ``model.describe()``.
    File mode yields every frame in order (the pipeline waits for the loop); live mode yields
    the newest frame, dropping the ones the loop was too slow for (counted in ``stats``).

    The source opens and the model loads here; the threads start with the first ``next``.
    Leaving the ``with`` block (a ``break``, an exception) or ``close()`` stops and joins them.
    An error in a stage is raised in the loop as ``StageError`` naming the stage. No signal
    handlers are installed: it works off the main thread and in notebooks.
    """

    def __init__(self, source: str | int | Path, *, model: str | Path | None = None, mode: str = "auto",
                 weights: str | Path | None = None, engine: str = "auto", precision: str = "auto", threads: int = 0,
                 estimator: Estimator | None = None, model_name: str | None = None, **settings: Any) -> None:
        self._pipeline: Pipeline | None = None
        self._source: Source | None = None
        self._lock = threading.Lock()
        self._started = False
        self._finished = False
        self._closed = False
        self._error: StageError | None = None
        overrides = deep_merge(stream_overrides(settings), model_overrides(model, weights, engine, precision, threads,
                                                                        model_name))
        overrides.update(source=str(source) if isinstance(source, Path) else source, mode=mode)
        self.settings: Settings = load_settings(None, overrides)
        check_choice(self.settings.model.engine, self.settings.model.precision)
        self._cancel = threading.Event()
        self._halt = threading.Event()
        opened: Source = open_configured_source(self.settings, Frontend(), self._halt)
        self._source = opened
        try:
            self.info: SourceInfo = opened.info
            policy = decide(self.settings.mode, self.info.is_live)
            self.live = policy.live
            self._source = played(opened, policy, self._halt)
            if estimator is not None:
                engines: list[Estimator] = [estimator.wrapped if isinstance(estimator, CheckedEstimator) else estimator]
            else:
                engines = list(estimators.engines_for_run(self.settings, self.info, policy.live))
            self.model: ModelInfo = model_info_of(engines[0])
            if policy.live:
                self._results: FrameChannel[DepthResult] = FrameChannel(1, latest=True)
            else:
                self._results = FrameChannel(self.settings.capture.queue_size, latest=False)
            display = self.settings.display
            options = dataclasses.replace(pipeline_options(self.settings, policy.live, self.info.kind is SourceKind.IMAGE),
                                          overlay=False)  # nobody sees the composed view: no text to draw
            sink = _ResultSink(self._results, self._halt, self.info.fps)
            self._pipeline = Pipeline(self._source, engines[0], [NullSink()], options, cancel=self._cancel,
                                      depth_sinks=[sink],
                                      normaliser=make_normaliser(display.normalize, display.range, self.model),
                                      extra_estimators=engines[1:], halt=self._halt)
        except BaseException:
            self._source.close()
            self._source = None
            raise

    # -- what the caller reads ----------------------------------------------------------------------------------
    @property
    def stats(self) -> PipelineStats:
        """The run's counters now; results replaced before the loop took them (live) count as dropped
        after inference (``dropped_display``), not as shown."""
        if self._pipeline is None:
            return PipelineStats()
        stats = self._pipeline.stats
        return dataclasses.replace(stats, dropped_display=self._pipeline.depths.dropped + self._results.dropped,
                                   displayed=stats.displayed - self._results.dropped)

    def __enter__(self) -> DepthStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __iter__(self) -> DepthStream:
        return self

    def __next__(self) -> DepthResult:
        pipeline = self._pipeline
        if pipeline is None:
            raise StopIteration
        if self._closed:
            self._finish()  # closed by another thread: wait until its join is done
            raise StopIteration
        self._start()
        while True:
            try:
                item = self._results.get(timeout=POLL_SECONDS)
            except ChannelClosed:  # the run is over and every result was taken
                error, self._error = self._error, None
                if error is not None:
                    raise error from error.cause
                raise StopIteration from None
            if item is not None:
                return item
            if self._closed:
                self._finish()
                raise StopIteration
            if not pipeline.running:  # the source ended, a stage failed, or close() was called
                self._finish()  # joins the threads and closes the sink (hence the channel): drain, then stop

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._started or self._finished or self._pipeline is None:
                return
            self._started = True
            self._pipeline.start()

    def _finish(self) -> None:
        """Stop and join the threads (once), keeping a stage's error for the loop to raise."""
        with self._lock:
            if self._finished or self._pipeline is None:
                return
            self._finished = True
            try:
                self._pipeline.finish()
            except StageError as exc:
                self._error = exc
            finally:
                if self._source is not None:
                    self._source.close()

    def close(self) -> None:
        """Stop the threads and close the source; safe to call more than once, from any thread."""
        if getattr(self, "_pipeline", None) is None:
            return
        self._closed = True
        self._cancel.set()
        self._finish()
        self._results.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    def __repr__(self) -> str:
        if getattr(self, "_pipeline", None) is None:
            return "<DepthStream (not open)>"
        state = "closed" if self._closed else "finished" if self._finished else "running" if self._started else "ready"
        return f"<DepthStream {self.info.description} {'live' if self.live else 'file'} mode, {state}>"
