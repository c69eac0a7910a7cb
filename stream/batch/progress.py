"""One progress bar over every frame of every file to process, with files finished / total beside it.

Totals come from the headers (read on the driver before work starts: a photo is one frame,
a video its header's count or duration x fps). While files run, the driver asks each busy
actor how many frames the file in hand has done and moves the bar by the difference; when
a file ends, its share of the bar is completed whatever it held (a failed file does not
leave the bar short of its total).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stream.batch.jobs import Job
from stream.core.media import ffmpeg_name


def header_frames(job: Job, max_frames: int | None) -> int:
    """Frames the file should give (0 when the header says nothing or the file does not open)."""
    if job.photo:
        count = 1
    else:
        count = video_frames(job.input)
    return min(count, max_frames) if max_frames is not None and count else count


def video_frames(path: Path) -> int:
    import av

    from stream.sources.picture import frame_count, stream_fps

    try:
        with av.open(ffmpeg_name(path), timeout=10) as container:
            stream = container.streams.video[0]
            duration = container.duration / 1_000_000 if container.duration else None
            return frame_count(stream, duration, stream_fps(stream)) or 0
    except Exception:  # noqa: BLE001 - a file that does not open fails in its worker, with the reason; here it is just 0 frames
        return 0


class BatchProgress:
    """The bar and the per-file frame counts already shown on it."""

    def __init__(self, bar: Any, expected: dict[str, int], files_total: int, files_finished: int = 0) -> None:
        self.bar = bar
        self.expected = expected
        self.shown: dict[str, int] = {}
        self.files_total = files_total
        self.files_finished = files_finished
        self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"files {self.files_finished}/{self.files_total}", refresh=False)

    def _advance(self, key: str, frames: int) -> None:
        step = frames - self.shown.get(key, 0)
        if step <= 0:
            return
        self.shown[key] = frames
        if self.bar is not None:
            if self.bar.total is not None and self.bar.n + step > self.bar.total:
                self.bar.total = self.bar.n + step  # a header that said fewer frames than the file has
            self.bar.update(step)

    def running(self, key: str, frames: int) -> None:
        """The file ``key`` has done ``frames`` so far."""
        self._advance(key, frames)

    def finished(self, key: str, frames: int) -> None:
        """The file ``key`` ended (done or failed) after ``frames``; its share of the bar is complete."""
        self._advance(key, max(frames, self.expected.get(key, 0)))
        self.files_finished += 1
        self._postfix()
        if self.bar is not None:
            self.bar.refresh()


@contextmanager
def progress_bar(expected: dict[str, int], files_total: int, files_finished: int, enabled: bool) -> Iterator[BatchProgress]:
    """The bar on stderr (log lines print above it), or a silent counter with ``-q``."""
    if not enabled:
        yield BatchProgress(None, expected, files_total, files_finished)
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(), tqdm(total=sum(expected.values()), unit="frame", desc="batch", file=sys.stderr,
                                        dynamic_ncols=True) as bar:
        yield BatchProgress(bar, expected, files_total, files_finished)
