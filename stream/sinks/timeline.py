"""Frame timestamps -> output timestamps: rescaled, strictly increasing, starting at 0."""

from __future__ import annotations

from fractions import Fraction

from stream.core.frames import Frame


class Timeline:
    """Places each frame on the output stream's clock (``time_base`` ticks).

    A frame's ``pts``/``time_base`` are rescaled; a frame without a timestamp is placed by
    count at ``rate``. The first frame goes to 0 (an MPEG-TS typically starts at 1.4 s, a
    live recording wherever the camera's clock was): ``origin`` is the source time that
    became 0, by which the audio is shifted too. Output timestamps always increase (a
    repeated or backwards one is nudged one tick past the last).
    """

    def __init__(self, time_base: Fraction, rate: Fraction) -> None:
        self.time_base = time_base
        self.rate = rate
        self.count = 0
        self.origin = 0.0
        self.end_seconds = 0.0
        self._shift: int | None = None
        self._last: int | None = None

    def place(self, frame: Frame) -> int:
        """The output pts of ``frame`` (call once per frame, in write order)."""
        if frame.pts is not None and frame.time_base is not None:
            pts = round(frame.pts * Fraction(frame.time_base) / self.time_base)
        else:
            pts = round(self.count / self.rate / self.time_base)
        if self._shift is None:
            self._shift = -pts
            self.origin = float(pts * self.time_base)
        pts += self._shift
        if self._last is not None and pts <= self._last:
            pts = self._last + 1
        self._last = pts
        self.count += 1
        self.end_seconds = float(pts * self.time_base + 1 / self.rate)
        return pts
