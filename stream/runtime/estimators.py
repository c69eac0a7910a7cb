"""The engines a run infers with: one for live mode and photos, one per core for a file."""

from __future__ import annotations

from stream.config.settings import Settings
from stream.core.modelinfo import model_info_of
from stream.engines.base import BaseEstimator
from stream.engines.shape import file_shape, usable_cores
from stream.sources.base import SourceInfo, SourceKind


def make_estimator(settings: Settings, at_once: int = 1) -> BaseEstimator:
    """One engine with the configured threads (live mode, photos; a batch's actor, one of ``at_once`` running together)."""
    return make_estimators(settings, 1, settings.model.threads, at_once)[0]


def make_estimators(settings: Settings, copies: int, threads: int, at_once: int | None = None) -> list[BaseEstimator]:
    """``copies`` engines of the chosen kind, ``threads`` each; ``auto`` is decided by measuring that very shape
    (``at_once`` engines together when other processes build the rest)."""
    from stream.core.cache import default_cache_dir
    from stream.engines.choose import engines_for
    from stream.model.resolve import check_model_name, resolve_model

    model = settings.model
    model_path = resolve_model(model.onnx, model.weights, model.cache_dir, "fp32", progress=settings.display.progress,
                               name=model.chosen, sha256=model.sha256)
    cache = model.cache_dir if model.cache_dir is not None else default_cache_dir()
    estimators = engines_for(model_path, model.engine, model.precision, model.threads, model.net_size, cache,
                             copies=copies, copy_threads=threads, at_once=at_once)
    check_model_name(model.onnx, model.name, model_info_of(estimators[0]).name)
    return estimators


def inference_streams(settings: Settings, live: bool, single_frame: bool) -> tuple[int, int]:
    """How many frames are inferred at once, and with how many threads each.

    Live mode wants the newest frame soonest: one engine with every thread. File mode wants
    throughput: one single-threaded engine per core keeps the cores busy while decoding and
    encoding take their share (one engine's threads wait for each other at every layer when
    a core is taken away). ``model.streams`` and ``model.threads`` override the split. The
    split is ``stream.engines.shape.file_shape``, the shape ``auto`` measures for a file.
    """
    model = settings.model
    if live or single_frame:
        return 1, model.threads
    shape = file_shape(model.threads, model.streams or 0, usable_cores())
    return shape.copies, shape.threads


def one_picture(settings: Settings, info: SourceInfo) -> bool:
    """The run has a single frame: a photo, a one-frame file, or ``--max-frames 1``."""
    return info.kind is SourceKind.IMAGE or settings.max_frames == 1 or info.frame_count == 1


def engines_for_run(settings: Settings, info: SourceInfo, live: bool) -> list[BaseEstimator]:
    """The engines this run infers with: one in live mode or for one picture, one per core for a file."""
    return make_estimators(settings, *inference_streams(settings, live, one_picture(settings, info)))
