"""What a run gives back, and the one line that sums it up for the command line."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from stream.pipeline.stats import PipelineStats


@dataclass
class RunResult:
    stats: PipelineStats
    exit_code: int
    output: Path | None  # the video written, None if none was (or no frame reached it)
    interrupted_by: int | None = None
    live: bool = False
    window_replaced: int = 0
    text: str | None = None  # a summary of its own (a folder of photos)
    finished: bool = False  # the source ended with every frame through: not cancelled, not stopped by a signal
    damaged: int = 0  # frames a live stream's decoder reported damaged (packet loss): said, not an error


def summary(result: RunResult) -> str:
    """One line: throughput for a file (every frame went through), rates, drops and latency when live.

    The counts add up (``PipelineStats``): captured = shown/written + dropped, and dropped =
    before inference + after it.
    """
    if result.text is not None:  # a folder of photos says what became of each
        stopped = result.interrupted_by is not None and "stopped by" not in result.text
        return result.text + (f" (stopped by {signal.Signals(result.interrupted_by or 0).name})" if stopped else "")
    stats = result.stats
    seconds = stats.elapsed
    if result.live:
        depth_fps = stats.inferred / seconds if seconds > 0 else 0.0
        capture_fps = stats.captured / seconds if seconds > 0 else 0.0  # the source's rate as it arrived
        text = (f"done: {stats.captured} captured, {stats.inferred} inferred, {stats.displayed} shown/written, "
                f"{stats.dropped} dropped ({stats.dropped_before} before inference, {stats.dropped_after} after), "
                f"capture {capture_fps:.1f} fps, depth {depth_fps:.1f} fps, latency p50 {stats.latency_ms(0.5):.0f} ms "
                f"p95 {stats.latency_ms(0.95):.0f} ms")
    else:
        fps = stats.displayed / seconds if seconds > 0 else 0.0
        text = (f"done: {stats.captured} captured, {stats.displayed} shown/written in {seconds:.1f} s "
                f"({fps:.1f} frames/s)")
        if stats.dropped:
            text += f", {stats.dropped} read but not written (the run stopped first)"
    if result.damaged:
        text += f"; {result.damaged} frame{'s' if result.damaged > 1 else ''} damaged (decoder errors: lost or broken packets)"
    if result.window_replaced:
        text += f"; {result.window_replaced} not shown (the window was busy)"
    if result.output is not None:
        text += f"; wrote {result.output}"
    if result.interrupted_by is not None:
        finalized = "; output finalized" if result.output is not None else ""
        text += f" (stopped by {signal.Signals(result.interrupted_by).name}{finalized})"
    return text
