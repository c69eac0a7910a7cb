"""The sink for headless runs without an output file: frames are counted, nothing is kept."""

from __future__ import annotations

from stream.core.frames import Closing, Frame


class NullSink(Closing):
    """Headless and no output file: frames are counted and dropped."""

    def __init__(self) -> None:
        self.frames = 0

    @property
    def frames_written(self) -> int:
        return self.frames

    def write(self, frame: Frame) -> None:
        self.frames += 1
