"""Where a run's results go: the side-by-side file, depth files, probe rows, and the progress shown meanwhile."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stream.config.settings import ExportSettings, Settings
from stream.core.media import is_image_name
from stream.export import DepthFileSink, PointCloudSink, make_depth_sink
from stream.pipeline.stats import PipelineOptions, PipelineStats
from stream.runtime.status import LiveStatus, file_size
from stream.sinks import ImageFileSink, VideoFileSink
from stream.sinks.encoder import EncoderSettings
from stream.sinks.probe_csv import ProbeCsvSink
from stream.sinks.sender import StreamSink
from stream.sinks.targets import StreamTarget
from stream.sources.base import SourceInfo

log = logging.getLogger(__name__)


def make_output(settings: Settings, info: SourceInfo, live: bool = False,
                on_gone: Callable[[], None] | None = None) -> VideoFileSink | ImageFileSink | StreamSink | None:
    """The ``--output`` sink: a stream sent on (``on_gone`` ends the run if its receiver leaves), an image, a video.

    ``live``: frames come on the live clock, so the video is encoded without B-frames.
    """
    output = settings.output
    if output is None:
        return None
    video = settings.video
    if isinstance(output, StreamTarget):
        return StreamSink(output, info.fps, EncoderSettings(video.codec, video.crf, video.preset), on_gone)
    if is_image_name(output):
        return ImageFileSink(output)
    return VideoFileSink(
        output,
        fps=info.fps,
        time_base=info.time_base,
        audio_from=(info.audio_feed or info.audio_path) if settings.video.copy_audio else None,
        codec=settings.video.codec,
        crf=settings.video.crf,
        preset=settings.video.preset,
        live=live,
    )


def make_depth_sinks(export: ExportSettings, fps: float) -> list[DepthFileSink]:
    """The writers ``export.depth_output`` and ``export.pointcloud`` ask for (none if neither is set)."""
    sinks: list[DepthFileSink] = []
    if export.depth_output is not None:
        sinks.append(make_depth_sink(export.depth_output, fps))
    if export.pointcloud is not None:
        sinks.append(PointCloudSink(export.pointcloud, export.fov_deg, export.drop_flying_pixels, export.pointcloud_step))
    return sinks


def make_probe_sink(path: Path | None, settings: Settings) -> ProbeCsvSink | None:
    if path is None:
        return None
    log.info("probe: depth at %s written to %s", " ".join(f"{x},{y}" for x, y in settings.probe.points), path)
    return ProbeCsvSink(path, settings.probe.points)


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


def written(output: VideoFileSink | ImageFileSink | StreamSink | None) -> Path | None:
    """The output file, only if a frame reached it (the summary never claims a file that is not there)."""
    if output is None or isinstance(output, StreamSink) or output.frames_written == 0 or not output.path.exists():
        return None
    return output.path


#: what a frame's step is given: the run's counters
Step = Callable[[PipelineStats], None]


@contextmanager
def progress_bar(settings: Settings, info: SourceInfo, live: bool,
                 output: VideoFileSink | ImageFileSink | StreamSink | None = None) -> Iterator[Step | None]:
    """The per-frame step of what shows progress (None with ``-q``): a file's tqdm bar over its
    frames, with log lines printed above it; a live run's status line (``stream.runtime.status``)."""
    if not settings.display.progress:
        yield None
        return
    if live:
        with live_status(output) as status:
            yield status.step
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    total = info.frame_count
    if settings.max_frames is not None:
        total = min(total, settings.max_frames) if total else settings.max_frames
    with logging_redirect_tqdm(), tqdm(total=total, unit="frame", desc="depth", file=sys.stderr, leave=False,
                                        dynamic_ncols=True) as bar:
        yield lambda _stats: bar.update(1)


def live_status(output: VideoFileSink | ImageFileSink | StreamSink | None) -> LiveStatus:
    """Frames "written" to a video (and its size), "sent" on as a stream, else "shown"."""
    if isinstance(output, VideoFileSink):
        return LiveStatus(sys.stderr, "written", file_size(output.path))
    return LiveStatus(sys.stderr, "sent" if isinstance(output, StreamSink) else "shown", file_size(None))


def frame_callback(progress: Step | None, on_frame: Step | None) -> Step | None:
    """What the display thread calls per frame: the progress step, then ``on_frame`` (either may be absent)."""
    if progress is None or on_frame is None:
        return progress or on_frame

    def step(stats: PipelineStats) -> None:
        progress(stats)
        on_frame(stats)

    return step
