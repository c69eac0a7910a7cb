"""One source through the pipeline: open it, load the model, wire the outputs, run, report.

Everything a user can get wrong is checked before any thread starts (output paths, the
engine choice, probe points once the source is open), so a bad input costs no work. The
frontend is asked for what it adds (``stream.runtime.frontend``); this module never knows
which frontend it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack

from stream.config.settings import Settings
from stream.core.errors import DepthStreamError, StageError
from stream.core.modelinfo import ModelInfo, model_info_of
from stream.core.protocols import Estimator, FrameSink
from stream.engines import check_choice
from stream.pipeline.mode import RunPolicy, decide
from stream.pipeline.stages import Pipeline
from stream.pipeline.stats import PipelineStats
from stream.runtime import estimators
from stream.runtime.checks import (
    check_collisions,
    check_export_source,
    check_exports,
    check_name_lengths,
    check_output,
    plan_probe_csv,
)
from stream.runtime.frontend import Frontend, Parts
from stream.runtime.outputs import (
    frame_callback,
    make_depth_sinks,
    make_output,
    make_probe_sink,
    pipeline_options,
    progress_bar,
    written,
)
from stream.runtime.result import RunResult
from stream.runtime.signals import StopOnSignal
from stream.sinks import NullSink
from stream.sources import PacedSource, Source, SourceKind, SourceOptions, damaged_frames, open_source
from stream.sources.dejitter import DejitteredSource
from stream.view.normalize import Normaliser, make_normaliser
from stream.view.probe import Probes, check_points_fit
from stream.view.settings import LiveNormaliser

log = logging.getLogger(__name__)


def check_before_work(settings: Settings) -> None:
    """The checks that need nothing open: outputs, exports, the engine x precision."""
    check_name_lengths(settings)  # first: asking about a path whose name is too long is itself an error
    check_output(settings)
    check_exports(settings)
    check_collisions(settings)
    check_choice(settings.model.engine, settings.model.precision)


def open_configured_source(settings: Settings, frontend: Frontend, halt: threading.Event) -> Source:
    """The frontend's own source for a spec only it knows (``browser``), else the registry's."""
    own = frontend.open_source(settings, halt)
    if own is not None:
        return own
    capture = settings.capture
    options = SourceOptions(
        width=capture.width,
        height=capture.height,
        fps=capture.fps,
        reconnect_attempts=capture.reconnect_attempts,
        reconnect_backoff=capture.reconnect_backoff,
        read_timeout=capture.read_timeout,
        max_pixels=settings.images.max_pixels,
        fourcc=capture.fourcc,
    )
    return open_source(settings.source, options)


def played(source: Source, policy: RunPolicy, halt: threading.Event) -> Source:
    """How the run's frames leave ``source``; the result owns (and closes) it.

    A recorded source played live comes at its own frame times (``PacedSource``); a live
    network stream with its own clock goes through the de-jitter buffer (``DejitteredSource``),
    which plays bursty input (live HLS) out evenly and adds nothing to a steady one. In file
    mode every frame is taken as it comes.
    """
    info = source.info
    if policy.paced:
        return PacedSource(source)
    if policy.live and info.kind is SourceKind.STREAM and not info.arrival_clock:
        return DejitteredSource(source, halt)
    return source


def run_source(settings: Settings, frontend: Frontend, estimator: Estimator | None, cancel: threading.Event,
               on_frame: Callable[[PipelineStats], None] | None = None, checked: bool = False) -> RunResult:
    """One source to its end, ``cancel`` or the first error; the frontend was opened by the caller.

    ``checked``: the caller has run ``check_before_work`` already (before opening its frontend).
    """
    if not checked:
        check_before_work(settings)
    csv_path = plan_probe_csv(settings)
    halt = threading.Event()
    with ExitStack() as stack:
        opened = open_configured_source(settings, frontend, halt)
        policy = decide(settings.mode, opened.info.is_live)
        source: Source = stack.enter_context(played(opened, policy, halt))
        info = source.info
        check_points_fit(settings.probe.points, info.width, info.height)
        check_export_source(settings, info)
        photo = info.kind is SourceKind.IMAGE
        output = make_output(settings, info, policy.live, on_gone=halt.set)  # before the model: standard output is taken now
        if output is not None:
            stack.callback(output.close)  # the pipeline closes it; this covers a failure before it runs
        engines = [estimator] if estimator is not None else estimators.engines_for_run(settings, info, policy.live)
        model = model_info_of(engines[0])
        probe_sink = make_probe_sink(csv_path, settings)
        if probe_sink is not None:
            stack.callback(probe_sink.close)  # the pipeline closes it too; this covers a failure before it runs
        parts = frontend.parts(settings, photo)
        sinks: list[FrameSink] = [sink for sink in (output, *parts.sinks) if sink is not None] or [NullSink()]
        depth_sinks = [stack.enter_context(sink) for sink in make_depth_sinks(settings.export, info.fps)]
        depth_sinks += [sink for sink in (probe_sink, *parts.depth_sinks) if sink is not None]
        log.info("source: %s (%dx%d %s, %s mode)%s", info.description, info.width, info.height, info.rate_text, policy.name,
                 f"; {info.conversion}" if info.conversion else "")
        log.info("model: %s", model.describe())
        progress = stack.enter_context(progress_bar(settings, info, policy.live, output))
        probes = parts.probes if parts.probes is not None else (Probes(settings.probe.points) if settings.probe.points else None)
        normaliser = parts.normaliser or normaliser_for(settings, parts, model)
        pipeline = Pipeline(source, engines[0], sinks, pipeline_options(settings, policy.live, photo), cancel=cancel,
                            on_display=frame_callback(progress, on_frame), depth_sinks=depth_sinks, probes=probes,
                            normaliser=normaliser, extra_estimators=engines[1:], view=parts.view, halt=halt)
        frontend.started(pipeline.stats, info)
        foreground = None
        if frontend.has_foreground:
            def foreground() -> None:
                frontend.foreground(lambda: photo or pipeline.running, cancel, keep_open=photo)
        with StopOnSignal(cancel) as signals:
            try:
                stats = pipeline.run(foreground)
            except StageError as exc:
                if signals.received is not None and not isinstance(exc.cause, DepthStreamError):
                    return RunResult(pipeline.stats, signals.exit_code, written(output), signals.received)
                raise
        return RunResult(stats, signals.exit_code, written(output), signals.received, policy.live, frontend.replaced,
                         finished=pipeline.finished.is_set(), damaged=damaged_frames(opened))


def normaliser_for(settings: Settings, parts: Parts, model: ModelInfo) -> Normaliser:
    """``display.normalize`` for this model's output; one that follows the frontend's live controls if it has them."""
    if parts.view is not None:
        return LiveNormaliser(parts.view, model)
    return make_normaliser(settings.display.normalize, settings.display.range, model)
