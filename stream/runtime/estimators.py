"""The engines a run infers with: one for live mode and photos, one per core for a file."""

from __future__ import annotations

import logging
from pathlib import Path

from stream.config.settings import Settings
from stream.core.modelinfo import model_info_of
from stream.engines.base import BaseEstimator
from stream.engines.shape import file_shape, usable_cores
from stream.sources.base import SourceInfo, SourceKind

log = logging.getLogger(__name__)


def make_estimator(settings: Settings, at_once: int = 1) -> BaseEstimator:
    """One engine with the configured threads (live mode, photos; a batch's actor, one of ``at_once`` running together)."""
    return make_estimators(settings, 1, settings.model.threads, at_once)[0]


def make_estimators(settings: Settings, copies: int, threads: int, at_once: int | None = None) -> list[BaseEstimator]:
    """``copies`` engines of the chosen kind, ``threads`` each; ``auto`` is decided by measuring that very shape
    (``at_once`` engines together when other processes build the rest)."""
    from stream.engines.choose import engines_for
    from stream.model.resolve import check_model_name

    model = settings.model
    model_path, cache = model_and_cache(settings)
    estimators = engines_for(model_path, model.engine, model.precision, model.threads, model.fixed_net_size(), cache,
                             copies=copies, copy_threads=threads, at_once=at_once)
    check_model_name(model.onnx, model.name, model_info_of(estimators[0]).name)
    return estimators


def model_and_cache(settings: Settings) -> tuple[Path, Path]:
    """The ONNX file to run (downloaded and exported on first use) and the cache folder decisions go in."""
    from stream.core.cache import default_cache_dir
    from stream.model.resolve import resolve_model

    model = settings.model
    model_path = resolve_model(model.onnx, model.weights, model.cache_dir, "fp32", progress=settings.display.progress,
                               name=model.chosen, sha256=model.sha256)
    return model_path, model.cache_dir if model.cache_dir is not None else default_cache_dir()


def sized_live_estimator(settings: Settings, frame_size: tuple[int, int]) -> BaseEstimator:
    """Live mode with ``model.net_size: auto``: the chosen engine at the largest size holding ``display.target_fps``."""
    from stream.engines.adaptive import live_engine
    from stream.model.resolve import check_model_name

    model = settings.model
    model_path, cache = model_and_cache(settings)
    estimator = live_engine(model_path, model.engine, model.precision, model.threads, cache,
                            settings.display.target_fps, frame_size)
    check_model_name(model.onnx, model.name, model_info_of(estimator).name)
    return estimator


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
    """The engines this run infers with: one in live mode or for one picture, one per core for a file.

    ``model.net_size: auto`` sizes live mode's engine for ``display.target_fps``; a file or a
    picture is not in a hurry and keeps the model's own size (a number sets it for both).
    """
    if live and settings.model.net_size == "auto" and not one_picture(settings, info):
        return [sized_live_estimator(settings, (info.width, info.height))]
    if settings.model.net_size == "auto":
        log.info("network: the model's own size (net_size auto sizes live mode only; %s is not in a hurry)",
                 "a picture" if one_picture(settings, info) else "a file")
    return make_estimators(settings, *inference_streams(settings, live, one_picture(settings, info)))
