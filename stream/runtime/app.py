"""From validated settings to a finished run: model, source, sinks, pipeline, summary.

Everything a user can get wrong is checked before any thread starts (config, output
path, model file, source), so a bad input costs no work and leaves no half-written file.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.config.settings import Settings
from stream.core.errors import ConfigError, DepthStreamError, OutputError, StageError
from stream.pipeline.mode import decide
from stream.pipeline.stages import Estimator, FrameSink, Pipeline, PipelineOptions, PipelineStats
from stream.sinks.paths import same_file
from stream.view.normalize import make_normaliser

if TYPE_CHECKING:
    from stream.engines.estimators import BaseEstimator
    from stream.export.snapshot import LatestCloud
    from stream.gui.window import MailboxSink, Window
    from stream.sinks import ImageFileSink, VideoFileSink
    from stream.sinks.probe_csv import ProbeCsvSink
    from stream.sources import Source, SourceInfo
    from stream.view.probe import Probes
    from stream.web.server import LiveWeb, WebServer

log = logging.getLogger(__name__)

SIGNAL_EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class RunResult:
    stats: PipelineStats
    exit_code: int
    output: Path | None  # the video written, None if none was (or no frame reached it)
    interrupted_by: int | None = None
    live: bool = False
    window_replaced: int = 0
    text: str | None = None  # a summary of its own (a batch of images)


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


def make_estimator(settings: Settings) -> BaseEstimator:
    """One engine with the configured threads (live mode, photos, batches of photos)."""
    return make_estimators(settings, 1, settings.model.threads)[0]


def make_estimators(settings: Settings, copies: int, threads: int) -> list[BaseEstimator]:
    """``copies`` engines of the chosen kind, ``threads`` each (the choice itself is made at the configured threads)."""
    from stream.engines.choose import engines_for
    from stream.model.resolve import resolve_model
    from stream.model.weights import default_cache_dir

    model = settings.model
    model_path = resolve_model(model.onnx, model.weights, model.cache_dir, "fp32", progress=settings.display.progress)
    cache = model.cache_dir if model.cache_dir is not None else default_cache_dir()
    return engines_for(model_path, model.engine, model.precision, model.threads, model.net_size, cache,
                       copies=copies, copy_threads=threads)


MAX_AUTO_STREAMS = 4


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def inference_streams(settings: Settings, live: bool, single_frame: bool) -> tuple[int, int]:
    """How many frames are inferred at once, and with how many threads each.

    Live mode wants the newest frame soonest: one engine with every thread. File mode wants
    throughput: one single-threaded engine per core keeps the cores busy while decoding and
    encoding take their share (one engine's threads wait for each other at every layer when
    a core is taken away). ``model.streams`` and ``model.threads`` override the split.
    """
    model = settings.model
    cores = usable_cores()
    streams = model.streams or max(1, min(cores, MAX_AUTO_STREAMS))
    if live or single_frame or streams == 1:
        return 1, model.threads
    return streams, max(1, (model.threads or cores) // streams)


def check_output(settings: Settings) -> None:
    """Before anything opens: the output can be written, is no input, and replacing a file is said."""
    from stream.sinks import check_output_path
    from stream.sources.still import is_photo

    output = settings.output
    if output is None:
        return
    check_output_path(output, image_source=is_photo(settings.source))
    refuse_input(settings, output, "--output")
    announce_replacement(output)


def announce_replacement(path: Path) -> None:
    """An existing file is replaced only after one line saying so (folders were refused before)."""
    if path.is_file():
        log.warning("note: %s exists and will be replaced", path)


def refuse_input(settings: Settings, output: Path, flag: str) -> None:
    """An output path that is one of the inputs (through any spelling) is refused: writing it would destroy it."""
    for role, given in (("--source", settings.source), ("--model", settings.model.onnx), ("--weights", settings.model.weights)):
        if given is not None and same_file(output, given):
            raise OutputError(f"{flag} {output} is the same file as {role} {given}; writing it would destroy the input, "
                              f"so choose another {flag}")


def check_exports(settings: Settings) -> None:
    """Before anything opens: the depth and point-cloud paths have known extensions, writable folders, are no input."""
    from stream.export import check_paths

    export = settings.export
    check_paths(export.depth_output, export.pointcloud)
    for flag, path in (("--depth-output", export.depth_output), ("--pointcloud", export.pointcloud)):
        if path is not None:
            refuse_input(settings, path, flag)
            announce_replacement(path)


def check_export_source(settings: Settings, info: SourceInfo) -> None:
    """Once the source is open, before the model loads: one-picture exports (PNG/NPY/PFM, PLY) need one picture."""
    from stream.export import check_source

    check_source(settings.export.depth_output, settings.export.pointcloud, one_picture(settings, info))


def one_picture(settings: Settings, info: SourceInfo) -> bool:
    """The run has a single frame: a photo, a one-frame file, or ``--max-frames 1``."""
    from stream.sources import SourceKind

    return info.kind is SourceKind.IMAGE or settings.max_frames == 1 or info.frame_count == 1


def open_configured_source(settings: Settings, web: LiveWeb | None = None, stop: threading.Event | None = None) -> Source:
    from stream.sources import SourceOptions, open_source

    if settings.source == "browser":
        if web is None or stop is None:
            raise ConfigError("--source browser is the camera of the browser page: add --serve [HOST:]PORT and open the page")
        return web.camera_source(settings, stop)
    capture = settings.capture
    options = SourceOptions(
        width=capture.width,
        height=capture.height,
        fps=capture.fps,
        reconnect_attempts=capture.reconnect_attempts,
        reconnect_backoff=capture.reconnect_backoff,
        read_timeout=capture.read_timeout,
    )
    return open_source(settings.source, options)


def make_output(settings: Settings, info: SourceInfo) -> VideoFileSink | ImageFileSink | None:
    from stream.sinks import IMAGE_EXTENSIONS, ImageFileSink, VideoFileSink

    if settings.output is None:
        return None
    if settings.output.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFileSink(settings.output)
    return VideoFileSink(
        settings.output,
        fps=info.fps,
        time_base=info.time_base,
        audio_from=info.audio_path if settings.video.copy_audio else None,
        codec=settings.video.codec,
        crf=settings.video.crf,
        preset=settings.video.preset,
    )


def probe_csv(settings: Settings) -> Path | None:
    """Where the ``--probe`` rows go (None: no probe), checked before anything opens."""
    from stream.sinks.probe_csv import check_probe_csv, probe_csv_path

    path = probe_csv_path(settings.probe.points, settings.probe.csv, settings.output)
    if path is None:
        return None
    check_probe_csv(path, (settings.source, settings.model.onnx, settings.model.weights, settings.output))
    announce_replacement(path)
    return path


def make_probe_sink(path: Path | None, settings: Settings) -> ProbeCsvSink | None:
    from stream.sinks.probe_csv import ProbeCsvSink

    if path is None:
        return None
    log.info("probe: depth at %s written to %s", " ".join(f"{x},{y}" for x, y in settings.probe.points), path)
    return ProbeCsvSink(path, settings.probe.points)


def run(settings: Settings, estimator: Estimator | None = None, stop: threading.Event | None = None,
        gui: Any = None, on_serve: Callable[[WebServer], None] | None = None,
        on_frame: Callable[[PipelineStats], None] | None = None) -> RunResult:
    """Run the app once. ``estimator`` and ``gui`` may be injected (tests); otherwise they are made.

    ``on_serve`` is called with the web server once it listens (``--serve``; tests learn its port).
    ``on_frame`` is called after each frame is written (the web page's video jobs report progress with it).
    """
    from stream.engines import check_choice
    from stream.export import make_depth_sinks
    from stream.gui.window import MailboxSink
    from stream.runtime.photos import is_image_batch, run_batch
    from stream.sinks import NullSink
    from stream.sources import PacedSource, SourceKind
    from stream.view.probe import check_points_fit

    stop = stop or threading.Event()
    if is_image_batch(settings):
        return run_batch(settings, estimator)
    check_output(settings)
    check_exports(settings)
    check_choice(settings.model.engine, settings.model.precision)
    csv_path = probe_csv(settings)
    probes, cloud, window = make_viewer(settings, gui)

    with ExitStack() as stack:
        web = start_web(stack, settings, probes, on_serve)  # before the source and model: a port in use costs nothing
        source: Source = stack.enter_context(open_configured_source(settings, web, stop))
        info = source.info
        check_points_fit(settings.probe.points, info.width, info.height)
        policy = decide(settings.mode, info.is_live)
        check_export_source(settings, info)
        if policy.paced:
            source = PacedSource(source)
        estimator, *extra_estimators = [estimator] if estimator is not None else engines_for_run(settings, info, policy.live)
        output = make_output(settings, info)
        probe_sink = make_probe_sink(csv_path, settings)
        if probe_sink is not None:
            stack.callback(probe_sink.close)  # the pipeline closes it too; this covers a failure before it runs
        mailbox = MailboxSink() if window is not None else None
        sinks: list[FrameSink] = [sink for sink in (output, mailbox, web.sink if web else None) if sink is not None] or [NullSink()]
        depth_sinks = [stack.enter_context(sink) for sink in make_depth_sinks(settings.export, info.fps)]
        log.info("source: %s (%dx%d @ %.2f fps, %s mode)", info.description, info.width, info.height, info.fps, policy.name)
        options = pipeline_options(settings, policy.live, photo=info.kind is SourceKind.IMAGE)
        progress = stack.enter_context(progress_bar(settings, info, policy.live))
        on_display = frame_callback(progress, on_frame)
        depth_sinks += [sink for sink in (probe_sink, cloud, web.state.readings if web else None) if sink is not None]
        normaliser = web.normaliser if web else make_normaliser(settings.display.normalize, settings.display.range)
        pipeline = Pipeline(source, estimator, sinks, options, stop=stop, on_display=on_display,
                            depth_sinks=depth_sinks, probes=probes, normaliser=normaliser,
                            extra_estimators=extra_estimators, view=web.view if web else None)
        if web is not None:
            web.attach(pipeline.stats, info)
        with StopOnSignal(stop) as signals:
            try:
                stats = run_pipeline(pipeline, window, mailbox, stop, keep_open=info.kind is SourceKind.IMAGE)
                if web is not None:
                    web.linger(stop)
            except StageError as exc:
                if signals.received is not None and not isinstance(exc.cause, DepthStreamError):
                    return RunResult(pipeline.stats, SIGNAL_EXIT_CODES[signals.received], written(output), signals.received)
                raise
        code = SIGNAL_EXIT_CODES[signals.received] if signals.received is not None else 0
        replaced = mailbox.replaced if mailbox is not None else 0
        return RunResult(stats, code, written(output), signals.received, policy.live, replaced)


def frame_callback(progress: Any, on_frame: Callable[[PipelineStats], None] | None) -> Callable[[PipelineStats], None] | None:
    """What the display thread calls per frame: the progress bar's step, then ``on_frame`` (either may be absent)."""
    if progress is None:
        return on_frame

    def step(stats: PipelineStats) -> None:
        progress.update(1)
        if on_frame is not None:
            on_frame(stats)

    return step


def engines_for_run(settings: Settings, info: SourceInfo, live: bool) -> list[BaseEstimator]:
    """The engines this run infers with: one in live mode or for one picture, one per core for a file."""
    return make_estimators(settings, *inference_streams(settings, live, one_picture(settings, info)))


def make_viewer(settings: Settings, gui: Any) -> tuple[Probes | None, LatestCloud | None, Window | None]:
    """The window and what it drives: probe points (clicks, ``--probe``) and the ``p`` key's point cloud.

    With ``--serve`` the page is the window (a server has no screen): no window opens.
    """
    from stream.export.snapshot import LatestCloud
    from stream.gui.window import Window
    from stream.view.probe import Probes

    serving = settings.serve.address is not None
    probes = Probes(settings.probe.points) if settings.probe.points or not settings.headless or serving else None
    if settings.headless or serving:
        return probes, None, None
    export = settings.export
    cloud = LatestCloud(settings.display.snapshot_dir, export.fov_deg, export.drop_flying_pixels, export.pointcloud_step)
    window = Window(settings.display.window_title, settings.display.snapshot_dir, gui=gui, probes=probes, save_cloud=cloud.save)
    return probes, cloud, window


def start_web(stack: ExitStack, settings: Settings, probes: Probes | None,
              on_serve: Callable[[WebServer], None] | None) -> LiveWeb | None:
    """With ``--serve``: the web server, listening, stopped when ``stack`` closes; else None."""
    if settings.serve.address is None:
        return None
    from stream.view.probe import Probes
    from stream.web.server import serve_live

    return stack.enter_context(serve_live(settings, probes if probes is not None else Probes(), lambda: make_estimator(settings), on_serve))


def pipeline_options(settings: Settings, live: bool, photo: bool) -> PipelineOptions:
    return PipelineOptions(
        live=live,
        queue_size=settings.capture.queue_size,
        colormap=settings.display.colormap,
        overlay=settings.display.overlay,
        max_frames=settings.max_frames,
        max_width=settings.video.max_width,
        frame_numbers=not photo,  # a photo has one frame: no "frame 1"
    )


def run_pipeline(pipeline: Pipeline, window: Window | None, mailbox: MailboxSink | None,
                 stop: threading.Event, keep_open: bool = False) -> PipelineStats:
    """Without a window, wait for the workers; with one, the main thread runs the window meanwhile.

    ``keep_open`` (a photo): the window stays up after the last frame until the user closes it.
    """
    if window is None or mailbox is None:
        return pipeline.run()
    window.open()  # before the workers start: a window that cannot open costs no work
    return pipeline.run(foreground=lambda: window.run(mailbox.mailbox, stop, lambda: keep_open or pipeline.running))


def written(output: VideoFileSink | ImageFileSink | None) -> Path | None:
    """The output file, only if a frame reached it (the summary never claims a file that is not there)."""
    if output is None or output.frames_written == 0 or not output.path.exists():
        return None
    return output.path


@contextmanager
def progress_bar(settings: Settings, info: SourceInfo, live: bool) -> Iterator[Any]:
    """A tqdm bar over the file's frames in file mode; log lines print above it, never glued to it."""
    if live or not settings.display.progress:
        yield None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    total = info.frame_count
    if settings.max_frames is not None:
        total = min(total, settings.max_frames) if total else settings.max_frames
    with logging_redirect_tqdm(), tqdm(total=total, unit="frame", desc="depth", file=sys.stderr, leave=False,
                                        dynamic_ncols=True) as bar:
        yield bar


def summary(result: RunResult) -> str:
    """One line: throughput for a file (every frame went through), rates, drops and latency when live."""
    if result.text is not None:
        return result.text
    stats = result.stats
    seconds = stats.elapsed
    if result.live:
        depth_fps = stats.inferred / seconds if seconds > 0 else 0.0
        text = (f"done: {stats.captured} captured, {stats.inferred} inferred, {stats.displayed} shown/written, "
                f"{stats.dropped} dropped, depth {depth_fps:.1f} fps, latency p50 {stats.latency_ms(0.5):.0f} ms "
                f"p95 {stats.latency_ms(0.95):.0f} ms")
    else:
        fps = stats.displayed / seconds if seconds > 0 else 0.0
        text = (f"done: {stats.captured} captured, {stats.displayed} shown/written in {seconds:.1f} s "
                f"({fps:.1f} frames/s)")
    if result.window_replaced:
        text += f"; {result.window_replaced} not shown (the window was busy)"
    if result.output is not None:
        text += f"; wrote {result.output}"
    if result.interrupted_by is not None:
        finalized = "; output finalized" if result.output is not None else ""
        text += f" (stopped by {signal.Signals(result.interrupted_by).name}{finalized})"
    return text
