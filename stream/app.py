"""From validated settings to a finished run: model, source, sinks, pipeline, summary.

Everything a user can get wrong is checked before any thread starts (config, output
path, model file, source), so a bad input costs no work and leaves no half-written file.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from stream.config import Settings
from stream.errors import DepthStreamError, StageError
from stream.pipeline import Pipeline, PipelineOptions, PipelineStats

log = logging.getLogger(__name__)

SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class RunResult:
    stats: PipelineStats
    exit_code: int
    output: Path | None
    interrupted_by: int | None = None


class StopOnSignal:
    """SIGINT/SIGTERM set the shared stop event (and remember which signal came first)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNAL_EXIT_CODES:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
        self.stop.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def is_live(settings: Settings, source_is_live: bool) -> bool:
    """Cameras and network streams are live; files are processed whole unless --realtime."""
    if settings.realtime is not None:
        return settings.realtime or source_is_live
    return source_is_live


def make_estimator(settings: Settings):
    from stream.inference import DepthEstimator
    from stream.model.resolve import resolve_model

    model_path = resolve_model(
        settings.model.onnx,
        settings.model.weights,
        settings.model.cache_dir,
        settings.model.precision,
        progress=settings.display.progress,
    )
    return DepthEstimator(model_path, threads=settings.model.threads, net_size=settings.model.net_size)


def run(settings: Settings, estimator=None, stop: threading.Event | None = None) -> RunResult:
    """Run the app once. ``estimator`` may be injected (tests); otherwise it is resolved."""
    from stream.sinks import NullSink, VideoFileSink, WindowSink, check_output_path
    from stream.sources import PacedSource, SourceKind, SourceOptions, open_source

    stop = stop or threading.Event()
    if settings.output is not None:
        check_output_path(settings.output)

    with ExitStack() as stack:
        capture = settings.capture
        source_options = SourceOptions(
            width=capture.width,
            height=capture.height,
            fps=capture.fps,
            reconnect_attempts=capture.reconnect_attempts,
            reconnect_backoff=capture.reconnect_backoff,
            read_timeout=capture.read_timeout,
        )
        source = stack.enter_context(open_source(settings.source, source_options))
        info = source.info
        live = is_live(settings, info.is_live)
        if live and info.kind in (SourceKind.FILE, SourceKind.IMAGES, SourceKind.SYNTHETIC):
            source = PacedSource(source)
        if estimator is None:
            estimator = make_estimator(settings)
        sinks: list = []
        if settings.output is not None:
            audio = info.audio_path if settings.video.copy_audio else None
            sinks.append(
                VideoFileSink(
                    settings.output,
                    fps=info.fps,
                    time_base=info.time_base,
                    audio_from=audio,
                    codec=settings.video.codec,
                    crf=settings.video.crf,
                    preset=settings.video.preset,
                )
            )
        if not settings.headless:
            sinks.append(WindowSink(settings.display.window_title, snapshot_dir=settings.display.snapshot_dir))
        if not sinks:
            sinks.append(NullSink())

        log.info("source: %s (%dx%d @ %.2f fps, %s mode)", info.description, info.width, info.height, info.fps, "live" if live else "file")
        progress = make_progress(settings, info, live)
        options = PipelineOptions(
            live=live,
            queue_size=capture.queue_size,
            colormap=settings.display.colormap,
            overlay=settings.display.overlay,
            max_frames=settings.max_frames,
        )
        on_display = (lambda stats: progress.update(1)) if progress is not None else None
        pipeline = Pipeline(source, estimator, sinks, options, stop=stop, on_display=on_display)
        with StopOnSignal(stop) as signals:
            try:
                stats = pipeline.run()
            except StageError as exc:
                if signals.received is not None and not isinstance(exc.cause, DepthStreamError):
                    return RunResult(pipeline.stats, SIGNAL_EXIT_CODES[signals.received], settings.output, signals.received)
                raise
            finally:
                if progress is not None:
                    progress.close()
        code = SIGNAL_EXIT_CODES[signals.received] if signals.received is not None else 0
        return RunResult(stats, code, settings.output, signals.received)


def make_progress(settings: Settings, info, live: bool):
    """A tqdm bar over the file's frames in file mode (to stderr; off with display.progress)."""
    if live or not settings.display.progress:
        return None
    from tqdm import tqdm

    total = info.frame_count
    if settings.max_frames is not None:
        total = min(total, settings.max_frames) if total else settings.max_frames
    return tqdm(total=total, unit="frame", desc="depth", file=sys.stderr, leave=False, dynamic_ncols=True)


def summary(result: RunResult) -> str:
    stats = result.stats
    fps = stats.displayed / stats.elapsed if stats.elapsed > 0 else 0.0
    parts = [
        f"{stats.captured} captured",
        f"{stats.inferred} inferred",
        f"{stats.displayed} shown/written",
        f"{stats.dropped} dropped",
        f"{fps:.1f} fps",
        f"latency p50 {stats.latency_ms(0.5):.0f} ms",
    ]
    text = "done: " + ", ".join(parts)
    if result.output is not None:
        text += f"; wrote {result.output}"
    if result.interrupted_by is not None:
        text += f" (stopped by {signal.Signals(result.interrupted_by).name}; output finalized)"
    return text
